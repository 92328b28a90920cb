package game_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/venomrt/venomrt/engine/game"
	"github.com/venomrt/venomrt/engine/gametest"
)

// A game starts its children by running its own binary again as
// "PROGRAM proc NAME": under go test that binary is the test binary, so
// given a subcommand it acts as the example's game.
func TestMain(m *testing.M) {
	// The kit (engine/gametest) starts the test binary as the group
	// tests' game (group_test.go).
	if os.Getenv(gametest.EnvGame) == "1" {
		groupGame().Main(os.Args) // exits
	}
	if len(os.Args) > 1 && !strings.HasPrefix(os.Args[1], "-test.") {
		exampleGame().Main(os.Args) // exits
	}
	// Children of a -race test binary need not sleep a second at exit.
	os.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	os.Exit(m.Run())
}

// A mistake in a declaration is reported by Command (and Main) before
// anything starts.
func ExampleGame_Add() {
	type meta struct{ Players uint32 }
	type player struct{ X, Y float32 }
	lobby := func(ctx context.Context, env game.Env) error { <-ctx.Done(); return nil }
	g := game.New("example").Add(
		game.Custom[meta, player]("lobby", 10, lobby),
		game.Custom[meta, player]("Lobby", 10, lobby),
		game.Custom[meta, player]("lobby", 10, lobby),
	)
	err := g.Command(context.Background(), []string{"run"}, io.Discard, io.Discard)
	fmt.Println(err)
	fmt.Println(errors.Is(err, game.ErrDuplicate), "exit status", game.ExitCode(err))
	// Output:
	// game: bad process name "Lobby": want [a-z0-9-]{1,15}
	// game: process declared twice: "lobby"
	// true exit status 1
}
