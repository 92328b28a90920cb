// Command heat-window is the heat example with its renderer in an Ebiten
// window: the same game and flags as heat, so it runs the whole game as
// well ("heat-window run"), and "heat run" starts it as its renderer
// ("heat-window proc render") where a display exists.
//
//	heat-window run [--screenshot FILE [--frames N]]
//
// It links Ebiten, which opens the display in a package init: without
// one it panics before main. Build it beside heat:
//
//	go build -o bin/ ./examples/heat/cmd/...
package main

import (
	"os"

	"github.com/venomrt/venomrt/examples/heat"
	"github.com/venomrt/venomrt/examples/heat/window"
)

func main() { heat.Game(window.Run).Main(os.Args) }
