package game

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/engine/supervisor"
	"github.com/venomrt/venomrt/venom"
)

// Process declares one child process of the game. Build it with Sim
// (a engine.Sim on engine.Run, the usual case) or Custom (a process
// with a main of its own), then adjust Spec.
type Process struct {
	// Name names the process, its channel ("<instance>.<name>") and its
	// child: [a-z0-9-]{1,15}.
	Name string
	// Run is the process's main, run by "PROGRAM proc NAME" until ctx
	// ends (SIGTERM or SIGINT). A member of a group runs it with its
	// Env.Index and Env.Count; its channel is env.Member(Name,
	// env.Index).
	Run func(ctx context.Context, env Env) error
	// Group, when set, makes the process a group: the name of one of the
	// game's integer flags (registered with Game.Flags) whose value, 1 to
	// MaxGroup, is how many members run. With 1 the process runs as if
	// it were not a group (child and channel NAME); with N > 1 run starts
	// N children NAME-0 … NAME-(N-1), each with its own channel
	// "<instance>.NAME-i", standby and restart policy (Spec, copied),
	// told its Env.Index and Env.Count. A grouped process's name is at
	// most 12 bytes, [a-z0-9-]{1,12}, so that NAME-63 is a child's name.
	Group string
	// Rate is the nominal ticks per second, which bench measures against.
	Rate int
	// Inputs means the process runs on engine.Run, so it takes the
	// engine's numbered no-op inputs and input faults: tools (chaos,
	// bench) number inputs to it.
	Inputs bool
	// Edge means the process runs on each edge machine too (the edge
	// subcommand of engine/bridge), reading the mirrored slices there
	// instead of being mirrored itself (the demo's net: players join an
	// edge's own net).
	Edge bool
	// Spec is the child's policy: Restart, Significant, HangTimeout,
	// QuitGrace, StartTimeout, StopGrace, Standby. Name, Channel and
	// Command are the game's to fill.
	//
	// Spec.Standby keeps a hot standby of the process (see
	// supervisor.ChildSpec.Standby): on by default for a process declared
	// with Sim, whose standby waits inside engine.Run on its channel's
	// ownership lock and takes over the instant the process dies; set it
	// false to turn it off (`run --standby=false` turns every one off).
	// A Custom process may turn it on: its standby is started ahead, but
	// its main runs only once the supervisor says go (its main may hold
	// more than its channel, such as a listening socket), so it saves the
	// process start, not the main's own.
	Spec supervisor.ChildSpec
	// Ops are the process's own commands by name: "PROGRAM send NAME OP
	// ARGS..." takes an op's name (or its number) for OP.
	Ops []Op
	// Segment is the shape of the process's channel, the venom.Config
	// its segment is created with: run adds up every channel's
	// venom.SegmentSize and refuses to start a game /dev/shm cannot hold.
	// Sim fills it from its engine.Options; a Custom process sets it
	// (engine.ChannelConfig of its Options, for one on engine.Run). Zero
	// counts as engine.Run's channel with default Options.
	Segment venom.Config

	header func(b []byte) (engine.Header, error) // checks a snapshot of its slice
	err    error                                 // from the slice's layout check
	inRun  bool                                  // Sim: its main is engine.Run, which takes a standby's line itself
}

// Op declares one of a process's own commands (an engine.Op from
// engine.OpUser on), so that send and other tools can name it.
type Op struct {
	// Name is what send takes for it: [a-z][a-z0-9-]{0,31}.
	Name string
	// Op is the command's op.
	Op engine.Op
	// Doc is one line: what it does and its arguments ("x y: spawn a
	// body at x, y").
	Doc string
	// Remote means the op may come from outside the machine (a bridge's
	// commands): only ops a game declares remote-callable do. The
	// engine's own ops (faults) never are.
	Remote bool
}

// Env is what a process, the renderer and a tool get from the game:
// the instance and how to name its channels, and the runtime's flags.
type Env struct {
	Instance string       // the game's instance name (--instance)
	Fresh    bool         // --fresh: ignore snapshots left by a previous run
	Headless bool         // --headless: no window
	Log      *slog.Logger // one logger per process, carrying its name and pid
	Out      io.Writer    // standard output: status lines
	// Index and Count place a member of a group (Process.Group): member
	// Index of Count. 0 and 1 for a process not in a group, a group of
	// 1, the renderer and a tool's process.
	Index, Count int
	// RunID is the run's id: drawn by run once (random, nonzero) and
	// given to every child of that run (--run-id), so that the members
	// of a group can tell a world of this run from an earlier one's. 0
	// for a process started by hand without --run-id.
	RunID uint64

	counts map[string]int // members of each group, by process name (Member)
}

// Channel is the full channel name of a process of this game.
func (e Env) Channel(process string) string { return e.Instance + "." + process }

// Status is the channel of the supervisor's status slice.
func (e Env) Status() string { return supervisor.StatusChannel(e.Instance) }

// Sim declares a process that runs newProc's engine.Sim on engine.Run.
// newProc is called in the child, after the game's flags are parsed; a
// Sim with a Close method is closed when Run returns.
// o sets the rate, the snapshot size and the rest; its Channel, Fresh and
// Log are the game's. A slice type the engine refuses (a pointer, a
// string, a bool…) makes the declaration an error.
func Sim[M, T any](name string, newProc func(env Env) (engine.Sim[M, T], error), o engine.Options) Process {
	sl, err := engine.NewSchema[M, T]()
	if o.Rate <= 0 {
		o.Rate = 60
	}
	p := Process{Name: name, Rate: o.Rate, Inputs: true, Spec: supervisor.ChildSpec{Restart: supervisor.Permanent, Standby: true},
		Segment: engine.ChannelConfig(o), header: sl.DecodeHeader, err: err, inRun: true}
	p.Run = func(ctx context.Context, env Env) error {
		proc, err := newProc(env)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if c, ok := proc.(interface{ Close() }); ok {
			defer c.Close() // what the process holds besides its channel
		}
		o := o
		o.Channel, o.Fresh, o.Log = env.Member(name, env.Index), env.Fresh, env.Log
		return engine.Run(ctx, sl, proc, o)
	}
	return p
}

// Custom declares a process with a main of its own, whose channel
// carries snapshots of Slice[M, T] (for example one that runs engine.Run
// beside a socket server; then set Inputs). rate is its ticks per second.
func Custom[M, T any](name string, rate int, run func(ctx context.Context, env Env) error) Process {
	sl, err := engine.NewSchema[M, T]()
	return Process{Name: name, Run: run, Rate: rate, Spec: supervisor.ChildSpec{Restart: supervisor.Permanent},
		header: sl.DecodeHeader, err: err}
}

// run runs the renderer in this process: the window where this is the
// window binary, a display exists and env is not headless, else the
// headless loop.
func (r *Renderer) run(ctx context.Context, env Env) error {
	if r.Window != nil && !env.Headless && hasDisplay() {
		return r.Window(ctx, env)
	}
	env.Headless = true
	return r.Headless(ctx, env)
}

// hasDisplay reports whether a window could open: an X or Wayland display
// is named.
func hasDisplay() bool { return os.Getenv("DISPLAY") != "" || os.Getenv("WAYLAND_DISPLAY") != "" }

// RenderName is the renderer's process and channel name.
const RenderName = "render"

// Renderer declares the game's renderer: the child "render", started
// after every process. Like every child it publishes on its channel,
// "<instance>.render", with Header.Tick counting its frames, and polls it
// for the engine's fault ops: the supervisor watches its heartbeat, and
// chaos its frames. A renderer owns that channel with engine.Own (Poll,
// then Publish, once a frame), the layer engine.Run is made of.
//
// A window needs a display as soon as its binary starts (Ebiten opens it
// in a package init), so a game's window lives in a binary of its own:
// one that declares the same game, flags included, with a Renderer whose
// Window opens the window. The game's main binary runs Headless
// and starts the window binary as its "render" child where a display
// exists.
type Renderer struct {
	// Headless runs the renderer without a window — its reads, its own
	// channel, a status line — until ctx ends or it is done (nil: the
	// game is over, when Spec.Significant). It runs wherever the window
	// does not: --headless, no display, no window binary.
	Headless func(ctx context.Context, env Env) error
	// Window runs the renderer with a window. Only the window binary sets
	// it (Ebiten opens the display in a package init, so the main binary
	// must not link it); there, "proc render" runs Window where a display
	// exists and --headless is not given, and Headless otherwise. The
	// main binary leaves it nil and starts the window binary instead.
	Window func(ctx context.Context, env Env) error
	// WindowBinary is the file name of the window binary, which the main
	// binary starts as "WINDOW proc render" with the game's flags: found
	// beside this program, then on PATH, unless --window names it. ""
	// means the game has none.
	WindowBinary string
	// NeedsWindow, when set, names what the flags ask that only a window
	// can do ("--screenshot"), or "" when nothing: run and render then
	// refuse, before anything starts, a renderer that would run headless.
	NeedsWindow func() string
	// Flags adds the renderer's own flags, on render and proc only (the
	// flags run needs, such as a screenshot's, are the game's: Game.Flags).
	Flags func(fs *flag.FlagSet)
	// Spec is its child policy; by default Transient and Significant:
	// closing the window ends the game, a crash restarts it.
	Spec supervisor.ChildSpec
	// Segment is the shape of its channel, as Process.Segment: what run
	// counts of /dev/shm for the renderer (zero: engine.Run's default
	// channel).
	Segment venom.Config
	// Reader, when set, is the renderer's own read of every slice, which
	// bench (engine/bench) then measures instead of a raw venom Read of each process's
	// channel. bench calls it once per world size and group count with
	// the Env of the game it runs (its Instance, and Members naming each
	// group's members as that run names them); frame is called once per
	// 60 Hz frame and does what the renderer does each frame short of
	// drawing (read every slice, and interpolate), returning how long the
	// reads took; close lets go.
	Reader func(env Env) (frame func() time.Duration, close func())
}
