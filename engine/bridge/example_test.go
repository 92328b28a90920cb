package bridge_test

import (
	"github.com/venomrt/venomrt/engine/bridge"
	"github.com/venomrt/venomrt/engine/game"
)

// A game opts into NATS on its declaration: its run takes --nats (a
// bridge child, and with --nats embedded a NATS server in the
// supervisor), and "PROGRAM edge" runs on another machine. A game that
// does not register it links no NATS.
func ExampleTool() {
	g := game.New("sandbox")
	// g.Add(...): the game's processes
	g.Use(bridge.Tool())
	// g.Main(os.Args)
}
