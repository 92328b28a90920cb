// Command supervisor runs a venomrt game and its tools: one binary, which
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
//	supervisor rm     NAME... | --stale   remove segments
//	supervisor fault  CHILD KIND [flags]  inject a fault into a running child
//	supervisor bench  [flags]          simulation tick benchmarks
//	supervisor chaos  [flags]          the game under random faults, with a report
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "supervisor:", err)
		}
		os.Exit(exitCode(err))
	}
}

// exitError carries a process exit code through run.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func exitCode(err error) int {
	var e *exitError
	if errors.As(err, &e) {
		return e.code
	}
	if errors.Is(err, flag.ErrHelp) {
		return 2
	}
	return 1
}

const usage = `usage: supervisor COMMAND [flags]

commands:
  run     run the game: supervisor, physics, ai, net and the renderer
  proc    run one child process (how run starts them)
  render  the renderer alone (venomrt-window when found and a display exists);
          --connect ws://HOST:PORT draws a game over the network
  ls      list venom segments in /dev/shm
  rm      remove segments: rm NAME... or rm --stale
  fault   inject a fault: fault CHILD panic|exit|hang|midpublish|slow
  bench   simulation tick benchmarks
  chaos   run the game under random faults and report
`

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return flag.ErrHelp
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: logLevel()}))
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "ls":
		return cmdLs(rest, stdout)
	case "rm":
		return cmdRm(rest, stdout)
	case "fault":
		return cmdFault(rest, stdout)
	case "proc":
		return cmdProc(ctx, rest, log)
	case "run":
		return cmdRun(ctx, rest, stdout, log)
	case "render":
		return cmdRender(ctx, rest, log)
	case "chaos":
		return cmdChaos(ctx, rest, stdout, log)
	case "bench":
		return cmdBench(ctx, rest, stdout, stderr, log)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", cmd)
}

func logLevel() slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(os.Getenv("VENOMRT_LOG"))); err != nil {
		return slog.LevelInfo
	}
	return l
}
