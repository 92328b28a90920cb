package bench_test

import (
	"fmt"

	"github.com/venomrt/venomrt/engine/bench"
	"github.com/venomrt/venomrt/engine/game"
)

// A game opts into bench on its declaration, and into bench's --plot
// with a Plotter (plot.Ticks, package engine/bench/plot, which links
// gonum's plot: a game that does not register it links no plotting
// library).
func ExampleTool() {
	g := game.New("sandbox")
	g.Use(bench.Tool()) // or bench.Tool(bench.Plot(plot.Ticks))
	fmt.Println(bench.Ratio(4.3, 106), bench.Ratio(106, 4.3), bench.Ratio(1, 1000))
	// Output:
	// 0.041x 25x <0.01x
}
