package game

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/sys/unix"

	"github.com/venomrt/venomrt/engine/watch"
)

// topSorts are the keys top sorts processes by (--sort, and 's' on a
// terminal cycles through them).
var topSorts = []string{"name", "cpu", "rss", "restarts", "p99", "ticks", "age", "queued"}

// cmdTop is PROGRAM top: a live view of a game instance (or every one on
// the host, --all) from what its processes keep (engine.Counters), its
// supervisor's status and /proc, read by a watch.Watcher: it owns
// nothing and never blocks a process. On a terminal it redraws in place
// (q quits, s changes the sort); otherwise it prints a table
// per sample, or with --json one JSON object per sample and line.
func (g *Game) cmdTop(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("top", flag.ContinueOnError)
	logFormatFlag(fs)
	instance := fs.String("instance", defaultInstance(g.name), "the game instance to watch")
	all := fs.Bool("all", false, "watch every game instance on the host")
	sortKey := fs.String("sort", "name", "sort processes by: "+strings.Join(topSorts, ", "))
	asJSON := fs.Bool("json", false, "print one JSON object per sample (never the live view)")
	every := fs.Duration("interval", time.Second, "time between samples (the rates and percentiles are over it)")
	count := fs.Int("n", 0, "samples to print, then exit (0: until interrupted)")
	pos, err := parseAny(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("%w: top: unexpected arguments %q", ErrUsage, pos)
	}
	if err := checkInstance(*instance); err != nil {
		return err
	}
	if !slices.Contains(topSorts, *sortKey) {
		return fmt.Errorf("%w: top: --sort %q: want one of %s", ErrUsage, *sortKey, strings.Join(topSorts, ", "))
	}
	if *every < 10*time.Millisecond || *count < 0 {
		return fmt.Errorf("%w: top: --interval at least 10ms, -n not negative", ErrUsage)
	}
	inst := *instance
	if *all {
		inst = ""
	}
	w := watch.New(inst)
	defer w.Close()
	// A first sample: the rates of the first one printed are over an
	// interval, as every later one's.
	if _, err := w.Sample(); err != nil {
		return err
	}
	if f, ok := stdout.(*os.File); ok && !*asJSON && isTerminal(f) {
		return runTopLive(ctx, w, f, *sortKey, *every, *count)
	}
	enc := json.NewEncoder(stdout)
	tick := time.NewTicker(*every)
	defer tick.Stop()
	for n := 0; *count == 0 || n < *count; n++ {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		games, err := w.Sample()
		if err != nil {
			return err
		}
		if *asJSON {
			if err := enc.Encode(topJSON{Time: time.Now().UTC(), Games: nonNil(games)}); err != nil {
				return err
			}
			continue
		}
		if _, err := io.WriteString(stdout, formatTop(games, *sortKey, time.Now())+"\n"); err != nil {
			return err
		}
	}
	return nil
}

// topJSON is one sample of top --json.
type topJSON struct {
	Time  time.Time    `json:"time"`
	Games []watch.Game `json:"games"`
}

func nonNil(g []watch.Game) []watch.Game {
	if g == nil {
		return []watch.Game{}
	}
	return g
}

// isTerminal reports whether f is a terminal.
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// sortProcesses orders ps by key: the name's order (the supervisor's)
// kept for "name", the largest first for the others.
func sortProcesses(ps []watch.Process, key string) {
	val := func(p watch.Process) float64 {
		switch key {
		case "cpu":
			return p.CPU
		case "rss":
			return float64(p.RSS)
		case "restarts":
			return float64(p.Restarts)
		case "p99":
			return float64(p.P99)
		case "ticks":
			return p.TicksPerSec
		case "age":
			return float64(p.Age)
		case "queued":
			return float64(p.Queued)
		}
		return 0
	}
	slices.SortStableFunc(ps, func(a, b watch.Process) int {
		va, vb := val(a), val(b)
		switch {
		case va > vb:
			return -1
		case va < vb:
			return 1
		}
		return 0
	})
}

// formatTop is one sample as text: per game a totals line, then a row
// per process.
func formatTop(games []watch.Game, sortKey string, now time.Time) string {
	var b strings.Builder
	if len(games) == 0 {
		fmt.Fprintf(&b, "%s  no game running\n", now.Format("15:04:05"))
	}
	for _, g := range games {
		sup := "no supervisor"
		if g.Supervisor != 0 {
			sup = fmt.Sprintf("supervisor %d", g.Supervisor)
		}
		fmt.Fprintf(&b, "%s  %s: %s, %d processes (%d not running), %d restarts, %.0f ticks/s, CPU %.1f%%, RSS %s, sort %s\n",
			now.Format("15:04:05"), g.Instance, sup, len(g.Processes), g.NotRunning, g.Restarts, g.TicksPerSec, g.CPU, mib(g.RSS), sortKey)
		if g.SupervisorErr != "" {
			fmt.Fprintf(&b, "  note: %s\n", g.SupervisorErr)
		}
		ps := slices.Clone(g.Processes)
		sortProcesses(ps, sortKey)
		tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "PROCESS\tSTATE\tPID\tSTANDBY\tRESTARTS\tTICKS/S\tTARGET\tP50\tP99\tMISSES\tQUEUED\tAGE\tCPU%\tRSS\tCLIENTS")
		var notes []string
		for _, p := range ps {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%.1f\t%s\t%d\n",
				p.Name, p.State, pid(p.Pid), p.Standby, p.Restarts, rate(p), target(p.Rate),
				dur(p.P50, p.Counted), dur(p.P99, p.Counted), misses(p), p.Queued, age(p.Age), p.CPU, mib(p.RSS), p.Clients)
			if p.Note != "" {
				notes = append(notes, p.Name+": "+p.Note)
			}
		}
		tw.Flush()
		for _, n := range notes {
			fmt.Fprintf(&b, "  note: %s\n", n)
		}
	}
	return b.String()
}

func pid(p int) string {
	if p == 0 {
		return "-"
	}
	return fmt.Sprint(p)
}

func rate(p watch.Process) string {
	if !p.Counted {
		return "-"
	}
	return fmt.Sprintf("%.1f", p.TicksPerSec)
}

func target(r uint32) string {
	if r == 0 {
		return "-"
	}
	return fmt.Sprint(r)
}

func dur(d time.Duration, counted bool) string {
	if !counted {
		return "-"
	}
	switch {
	case d >= time.Millisecond:
		return fmt.Sprintf("%.1fms", float64(d)/1e6)
	default:
		return fmt.Sprintf("%dµs", d/time.Microsecond)
	}
}

func misses(p watch.Process) string {
	if !p.Counted {
		return "-"
	}
	return fmt.Sprintf("%d (+%d)", p.Counters.Misses, p.NewMisses)
}

func age(d time.Duration) string {
	if d < 0 {
		return "never"
	}
	return d.Round(time.Millisecond).String()
}

func mib(n int64) string {
	if n == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1fMiB", float64(n)/(1<<20))
}

// The live view, drawn with a few ANSI sequences rather than a terminal
// UI library: bubbletea v1.3.10 queries the terminal's background colour
// in its package init (termenv's OSC 11, a 5 s timeout when the terminal
// does not answer), and as a built-in top is linked into every program
// on the game API, so every subcommand and every child sharing the
// terminal paid that query at start — `ls` under script(1) took 5 s.
// What the view needs is little: the alternate screen, a redraw from the
// top-left corner, one bold line, and keys read without echo.
const (
	altScreenOn  = "\x1b[?1049h\x1b[?25l" // the alternate screen, cursor hidden
	altScreenOff = "\x1b[?25h\x1b[?1049l"
	home         = "\x1b[H"
	clearLine    = "\x1b[K" // the rest of the line
	clearBelow   = "\x1b[J" // the rest of the screen
	bold, plain  = "\x1b[1m", "\x1b[0m"
)

// liveFrame is a sample as the live view draws it: from the top-left
// corner, each line cleared to its end, the header in bold, the rest of
// the screen cleared.
func liveFrame(games []watch.Game, err error, sortKey string, now time.Time) string {
	var b strings.Builder
	b.WriteString(home)
	text := "top: " + fmt.Sprint(err) + "\n"
	if err == nil {
		text = formatTop(games, sortKey, now) + "\nq quit · s sort by " + sortKey + "\n"
	}
	for _, l := range strings.SplitAfter(text, "\n") {
		line, nl := strings.CutSuffix(l, "\n")
		if strings.HasPrefix(line, "PROCESS") {
			line = bold + line + plain
		}
		b.WriteString(line + clearLine)
		if nl {
			b.WriteString("\r\n")
		}
	}
	b.WriteString(clearBelow)
	return b.String()
}

// runTopLive redraws the view in place every interval until ctx ends, q
// is typed, or count samples were shown (0: no limit). Keys are read from
// stdin when it is a terminal, put out of canonical mode and echo for the
// while (signals stay on: Ctrl-C interrupts as everywhere).
func runTopLive(ctx context.Context, w *watch.Watcher, out *os.File, sortKey string, every time.Duration, count int) error {
	in := int(os.Stdin.Fd())
	keys := false
	if old, err := unix.IoctlGetTermios(in, unix.TCGETS); err == nil {
		raw := *old
		raw.Lflag &^= unix.ICANON | unix.ECHO
		raw.Cc[unix.VMIN], raw.Cc[unix.VTIME] = 1, 0
		if unix.IoctlSetTermios(in, unix.TCSETS, &raw) == nil {
			keys = true
			defer unix.IoctlSetTermios(in, unix.TCSETS, old)
		}
	}
	if _, err := io.WriteString(out, altScreenOn); err != nil {
		return err
	}
	defer io.WriteString(out, altScreenOff)
	// The first frame waits an interval, as every later one: its rates
	// are over it (cmdTop took the sample they start from).
	var games []watch.Game
	var err error
	io.WriteString(out, home+"sampling…"+clearLine+clearBelow)
	for shown := 0; count == 0 || shown < count; shown++ {
		for next := time.Now().Add(every); time.Now().Before(next); {
			if ctx.Err() != nil {
				return nil
			}
			wait := min(time.Until(next), 100*time.Millisecond)
			if !keys {
				select {
				case <-ctx.Done():
				case <-time.After(wait):
				}
				continue
			}
			fds := []unix.PollFd{{Fd: int32(in), Events: unix.POLLIN}}
			if n, _ := unix.Poll(fds, int(wait/time.Millisecond)+1); n <= 0 {
				continue
			}
			var b [16]byte
			n, rerr := unix.Read(in, b[:])
			if rerr != nil || n == 0 {
				keys = false // stdin closed: keep drawing
				continue
			}
			for _, c := range b[:n] {
				switch c {
				case 'q', 'Q', 3, 4: // q, Ctrl-C, Ctrl-D
					return nil
				case 's', 'S':
					sortKey = topSorts[(slices.Index(topSorts, sortKey)+1)%len(topSorts)]
					if shown > 0 {
						io.WriteString(out, liveFrame(games, err, sortKey, time.Now()))
					}
				}
			}
		}
		games, err = w.Sample()
		if _, werr := io.WriteString(out, liveFrame(games, err, sortKey, time.Now())); werr != nil {
			return werr
		}
	}
	return nil
}
