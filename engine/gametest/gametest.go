// Package gametest is what a game's tests need to run the game as it
// runs for real: every process a real OS process with a real pid, under
// the real supervisor, over real shared memory — no mocks.
//
// A game's test binary is the game: a game starts each process by
// running its own binary again ("PROGRAM proc NAME"), and under go test
// that binary is the test binary. Main, the package's TestMain, runs the
// game's Main in a process the kit started as the game, and the tests
// otherwise:
//
//	func TestMain(m *testing.M) { gametest.Main(m, mygame.Game()) }
//
// A test then starts the game as a process tree of its own, under an
// instance name no other test uses, and looks at it from outside:
//
//	g := gametest.Start(t, "run")           // run --instance <unique> --headless
//	f, err := gametest.WaitFor(g, "grid", mygame.GridSchema, func(f *engine.Frame[GridMeta, Cell]) bool { return f.Tick > 10 })
//	st, err := g.Status()                   // the supervisor's status of every child
//	next, err := g.Kill("grid")             // SIGKILL its pid, wait for the successor to publish
//	err = g.Ask("grid", engine.Cmd(OpHeat, 1, 2, 3)) // applied, or refused with the reason
//	s, err := g.Sender("grid")              // numbered commands, and the process's account of them
//	err = s.Send(engine.Cmd(OpHeat, 1, 2, 3))
//	a, _, err := s.Settle()                 // a.Exact(): each applied once
//
// and checks a process's Sim without processes at all: CheckRestore
// proves a snapshot restores bit for bit over N steps.
//
// Every wait has a deadline (Options.Timeout, Wait's within) and polls
// at a bounded interval; nothing sleeps blind. At the end of the test
// (Start) or on Stop (Launch) the game is stopped — SIGTERM, then
// SIGKILL — and its segments are removed; every process the kit starts
// dies with the test process (a parent-death signal), and Kill signals
// only pids the kit started or their children.
package gametest

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/venomrt/venomrt/engine/game"
)

// EnvGame is the environment variable by which the kit starts the test
// binary as the game: Main runs the game when it is "1". Every process
// the game starts inherits it, so its children are the game too.
const EnvGame = "VENOMRT_GAMETEST"

// DefaultTimeout bounds every wait of a Game whose Options set none. It
// is long because a loaded two-core machine running -race binaries
// starts a process tree in seconds, not milliseconds; a wait ends as
// soon as its condition holds.
const DefaultTimeout = 30 * time.Second

// ErrTimeout is a wait whose condition did not hold before its deadline.
var ErrTimeout = errors.New("gametest: timed out")

// Main is a game's TestMain. In a process the kit started as the game
// (EnvGame is "1") it runs g.Main(os.Args), which exits; otherwise it
// runs the tests and exits with their status.
func Main(m *testing.M, g *game.Game) {
	if os.Getenv(EnvGame) == "1" {
		g.Main(os.Args)
		return // Main exits; this is for a Main that does not
	}
	os.Exit(m.Run())
}

// Command is the test binary run as the game with args (the subcommand
// and its flags, without the program name), for a one-shot subcommand
// whose output and exit status a test checks: "ls", a "run" that must
// refuse its flags. It dies with the test process. Start and Launch run
// the game itself.
func Command(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), EnvGame+"=1",
		// A -race binary sleeps a second at exit by default: every
		// process of the game would.
		"GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	cmd.SysProcAttr = deathSignal()
	return cmd
}

// maxInstance is the longest instance name the game takes.
const maxInstance = 40

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9]+`)

// Instance is an instance name unique to t: the test's name, this
// process's pid and a random suffix (a test run -count=3 gets three),
// at most 40 bytes of [A-Za-z0-9.-]. Start uses it; a test that starts
// processes of its own (Command) passes it as --instance.
func Instance(t testing.TB) string {
	t.Helper()
	return instanceFor(t.Name())
}

func instanceFor(test string) string {
	name := unsafeChars.ReplaceAllString(test, "-")
	suffix := fmt.Sprintf(".%d.%04x", os.Getpid(), rand.Uint32()&0xffff)
	if len(name)+len(suffix) > maxInstance {
		// Keep long names with a common prefix apart.
		h := fnv.New32a()
		h.Write([]byte(name))
		keep := maxInstance - len(suffix) - 9
		name = fmt.Sprintf("%s.%08x", name[:keep], h.Sum32())
	}
	return name + suffix
}

// Poll intervals of Wait: the first look again comes soon, then the
// interval doubles up to the bound, so a wait costs little CPU on a
// shared machine and never spins.
const (
	firstPoll = time.Millisecond
	maxPoll   = 20 * time.Millisecond
)

// Wait polls cond until it holds, and returns nil, or until within has
// passed, and returns an error wrapping ErrTimeout that says what did
// not happen. It polls at intervals from 1 ms doubling to 20 ms.
func Wait(within time.Duration, what string, cond func() bool) error {
	deadline := time.Now().Add(within)
	for step := firstPoll; !cond(); step = min(2*step, maxPoll) {
		if !time.Now().Before(deadline) {
			return fmt.Errorf("%w after %v: %s", ErrTimeout, within, what)
		}
		time.Sleep(min(step, time.Until(deadline)+time.Millisecond))
	}
	return nil
}
