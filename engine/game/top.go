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

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
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
// (bubbletea; q quits, s changes the sort); otherwise it prints a table
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
		return runTopTUI(ctx, w, f, *sortKey, *every, *count)
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

// The live view: a bubbletea program that samples every interval.

type topModel struct {
	w       *watch.Watcher
	every   time.Duration
	sortKey string
	games   []watch.Game
	err     error
	left    int // samples left to show (-1: no limit)
	now     time.Time
}

type sampleMsg struct{}

var topHeader = lipgloss.NewStyle().Bold(true)

func (m topModel) Init() tea.Cmd { return m.next() }

func (m topModel) next() tea.Cmd {
	return tea.Tick(m.every, func(time.Time) tea.Msg { return sampleMsg{} })
}

func (m topModel) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.KeyMsg:
		switch msg.String() {
		case "q", "ctrl+c", "esc":
			return m, tea.Quit
		case "s":
			m.sortKey = topSorts[(slices.Index(topSorts, m.sortKey)+1)%len(topSorts)]
		}
	case sampleMsg:
		m.games, m.err = m.w.Sample()
		m.now = time.Now()
		if m.left > 0 {
			m.left--
			if m.left == 0 {
				return m, tea.Quit
			}
		}
		return m, m.next()
	}
	return m, nil
}

func (m topModel) View() string {
	if m.err != nil {
		return "top: " + m.err.Error() + "\n"
	}
	if m.now.IsZero() {
		return "sampling…\n"
	}
	lines := strings.Split(formatTop(m.games, m.sortKey, m.now), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "PROCESS") {
			lines[i] = topHeader.Render(l)
		}
	}
	return strings.Join(lines, "\n") + "\nq quit · s sort by " + m.sortKey + "\n"
}

func runTopTUI(ctx context.Context, w *watch.Watcher, out *os.File, sortKey string, every time.Duration, count int) error {
	left := -1
	if count > 0 {
		left = count
	}
	p := tea.NewProgram(topModel{w: w, every: every, sortKey: sortKey, left: left},
		tea.WithOutput(out), tea.WithContext(ctx), tea.WithAltScreen())
	_, err := p.Run()
	if ctx.Err() != nil {
		return nil // interrupted: the normal way out
	}
	return err
}
