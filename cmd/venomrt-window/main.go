// Command venomrt-window is the demo's renderer in an Ebiten window: the
// demo declared on the game API (demo.Game) with a renderer that opens a
// window. The supervisor starts it as its child "render" where a display
// exists (it looks beside its own binary, then on PATH, or takes --window
// PATH); a user runs it by hand to draw a local game or, with --connect,
// a game on another machine.
//
//	venomrt-window proc render [flags]   as the supervisor's child
//	venomrt-window [render] [flags]      by hand, e.g. --connect ws://HOST:PORT
//
// It declares the same game as the supervisor, so it takes the same
// flags. It links Ebiten (v2.8.8), which opens the display in a package
// init: without DISPLAY it panics before main. The supervisor never
// starts it then, and runs its own headless renderer instead.
package main

import (
	"os"
	"strings"

	"github.com/venomrt/venomrt/demo"
	"github.com/venomrt/venomrt/demo/window"
)

func main() {
	args := os.Args
	if len(args) == 1 || strings.HasPrefix(args[1], "-") {
		// By hand, with flags only: the renderer.
		args = append([]string{args[0], "render"}, args[1:]...)
	}
	demo.Game(window.Run).Main(args)
}
