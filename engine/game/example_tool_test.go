package game_test

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/venomrt/venomrt/engine/game"
)

// A game's own subcommand: listed in the program's usage, given the
// game's flags (here --instance), and a usage error — exit status 2 —
// for arguments it cannot take.
func ExampleGame_Subcommand() {
	g := exampleGame()
	g.Subcommand(game.Subcommand{
		Name: "greet", Args: "NAME [flags]", Summary: "greet someone on the game's instance",
		Run: func(ctx context.Context, c game.Call) error {
			f := g.NewFlags("greet")
			pos, err := g.Parse(f, c.Args)
			if err != nil {
				return err
			}
			if len(pos) != 1 {
				return fmt.Errorf("%w: greet: want one NAME", game.ErrUsage)
			}
			fmt.Fprintf(c.Stdout, "hello %s, from %s\n", pos[0], f.Instance)
			return nil
		},
	})
	err := g.Command(context.Background(), []string{"greet", "ada", "--instance", "lab"}, os.Stdout, os.Stdout)
	fmt.Println("exit status", game.ExitCode(err))
	err = g.Command(context.Background(), []string{"greet"}, os.Stdout, os.Stdout)
	fmt.Println(err, "- exit status", game.ExitCode(err))
	// Output:
	// hello ada, from lab
	// exit status 0
	// usage: example greet NAME [flags]
	// usage: greet: want one NAME - exit status 2
}

// A tool is a package outside engine/game that registers on the game
// it is given — here a flag on run and a subcommand; engine/chaos,
// engine/bench and engine/bridge are tools. A game links only the tools
// it registers.
func ExampleGame_Use() {
	var verbose bool
	hello := func(g *game.Game) {
		g.CommandFlags("run", func(fs *flag.FlagSet) { fs.BoolVar(&verbose, "verbose", false, "say more") })
		g.Subcommand(game.Subcommand{Name: "hello", Summary: "say hello to every process",
			Run: func(ctx context.Context, c game.Call) error {
				for _, p := range g.Processes() {
					fmt.Fprintf(c.Stdout, "hello %s (%d Hz)\n", p.Name, p.Rate)
				}
				return nil
			}})
	}
	g := exampleGame().Use(hello)
	g.Command(context.Background(), []string{"hello"}, os.Stdout, os.Stdout)
	// Output:
	// hello counter (100 Hz)
}
