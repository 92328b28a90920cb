// Command supervisor runs the venomrt demo and its tools: the demo
// declared on the game API (demo.Game, engine/game). One binary, which
// re-executes itself ("supervisor proc physics") to start each child so
// every child is a real OS process. The one exception is the renderer's
// window, the binary venomrt-window (Ebiten opens the display in a package
// init, so the supervisor never links it and runs without a display): run
// starts it as the child render where a display exists — beside this
// binary, on PATH, or --window PATH — and runs the renderer headless
// otherwise.
//
//	supervisor run    [flags]          the whole game: supervisor, physics, ai, net, render
//	supervisor proc   NAME [flags]     one child process (how run starts them)
//	supervisor render [--connect ws://HOST:PORT] [flags]  the renderer alone (the window binary when found), from shared memory or the network
//	supervisor ls                      every venom segment in /dev/shm
//	supervisor rm     NAME... | --stale [--instance I]   remove segments
//	supervisor fault  CHILD KIND [flags]  inject a fault into a running child
//	supervisor bench  [flags]          tick, read and input benchmarks of every process
//	supervisor chaos  [flags]          the game under random faults, with a report
//	supervisor edge   --nats URL --game INSTANCE [flags]  on another machine: mirror a game over NATS
//
// run, proc, render, ls, rm and fault are engine/game's own; chaos, bench
// (with --plot), run --nats and edge are the tools demo.Game registers
// (engine/chaos, engine/bench and engine/bench/plot, engine/bridge).
package main

import (
	"os"

	"github.com/venomrt/venomrt/demo"
)

func main() { demo.Game(nil).Main(os.Args) }
