// Command heat runs the heat example: a diffusing grid and the heaters
// that keep it warm, each an OS process, and their tools.
//
//	heat run   [--width 64] [--heaters 6] [--seed 1] [--headless]
//	heat chaos --duration 10s
//	heat bench --duration 5s [--width 64,128,256]
//	heat ls | rm | fault PROCESS KIND | proc NAME | render
//
// It links no Ebiten and needs no cgo (CGO_ENABLED=0 builds it): where a
// display exists, run starts heat-window as its renderer, found beside
// this binary or on PATH; otherwise the renderer runs headless here.
package main

import (
	"os"

	"github.com/venomrt/venomrt/examples/heat"
)

func main() { heat.Game(nil).Main(os.Args) }
