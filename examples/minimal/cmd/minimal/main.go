// Command minimal runs the minimal example (examples/minimal): a herd, a
// hunter and a headless renderer, each an OS process.
package main

import (
	"os"

	"github.com/venomrt/venomrt/examples/minimal"
)

func main() { minimal.Game().Main(os.Args) }
