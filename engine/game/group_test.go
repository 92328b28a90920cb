package game_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/engine/game"
	"github.com/venomrt/venomrt/engine/gametest"
	"github.com/venomrt/venomrt/engine/supervisor"
	"github.com/venomrt/venomrt/internal/proctest"
	"github.com/venomrt/venomrt/venom"
)

// cellMeta is a member of the cell group as it sees itself and the
// member before it: what Env told it, and what it read of member i-1's
// slice, found by name with Env.Member.
type cellMeta struct {
	Index, Count uint32
	RunID        uint64
	Prev         uint32 // 1 + the Index member i-1 publishes; 0 before a read (always, for member 0)
	PrevCount    uint32
	PrevRunID    uint64
	Adds         uint64 // opAdd commands applied
}

type cellItem struct{ V uint64 }

var cellSchema = engine.MustSchema[cellMeta, cellItem]()

// cell is the group game's process: one member of the cell group.
type cell struct {
	meta cellMeta
	prev *engine.Follower[cellMeta, cellItem] // member i-1's slice; nil for member 0
}

func newCell(env game.Env) (engine.Sim[cellMeta, cellItem], error) {
	c := &cell{meta: cellMeta{Index: uint32(env.Index), Count: uint32(env.Count), RunID: env.RunID}}
	if env.Index > 0 {
		c.prev = engine.Follow(env.Member("cell", env.Index-1), cellSchema, engine.FollowOptions{})
	}
	return c, nil
}

func (c *cell) Restore(f *engine.Frame[cellMeta, cellItem]) error {
	if f != nil {
		c.meta.Adds = f.Meta.Adds
	}
	return nil
}

func (c *cell) Handle(cmd engine.Command) error {
	if cmd.Op != opAdd {
		return fmt.Errorf("%w: %d", engine.ErrUnknownOp, cmd.Op)
	}
	c.meta.Adds++
	return nil
}

func (c *cell) Step(time.Duration) {
	if c.prev == nil {
		return
	}
	if c.prev.Poll(); c.prev.Have() {
		m := c.prev.Cur.Meta
		c.meta.Prev, c.meta.PrevCount, c.meta.PrevRunID = m.Index+1, m.Count, m.RunID
	}
}

func (c *cell) Snapshot(m *cellMeta, items []cellItem) []cellItem {
	*m = c.meta
	return items
}

func (c *cell) Close() {
	if c.prev != nil {
		c.prev.Close()
	}
}

// groupGame is the game of the group tests: a group "cell" whose count
// is --cells. The kit starts the test binary as this game (TestMain).
func groupGame() *game.Game {
	var cells int
	p := game.Sim("cell", newCell, engine.Options{Rate: 100, DataSize: 4 << 10})
	p.Group = "cells"
	p.Ops = []game.Op{{Name: "add", Op: opAdd, Doc: "count one add"}}
	return game.New("groups").
		Flags(func(fs *flag.FlagSet) { fs.IntVar(&cells, "cells", 1, "members of the cell group") }).
		Add(p)
}

// stableWithStandby is a child a SIGKILL hands to its standby at once.
func stableWithStandby(c supervisor.ChildStatus) bool {
	return c.State == supervisor.ChildRunning && c.StandbyReady() && c.Uptime > int64(2*supervisor.StableAfter)
}

// TestGroup: a group of 3 runs as cell-0, cell-1, cell-2, each told its
// index, the count and the run's id (the same for all), each following
// the member before it by name; ls, top, fault and send take members; a
// send to the group asks every member; a member SIGKILLed is taken over
// by its standby at once, the others untouched.
func TestGroup(t *testing.T) {
	g := gametest.Start(t, "run", "--cells=3")
	members, err := g.Members("cell")
	if err != nil || !slices.Equal(members, []string{"cell-0", "cell-1", "cell-2"}) {
		t.Fatalf("members %q (%v), want cell-0, cell-1, cell-2", members, err)
	}
	var run uint64
	for i, m := range members {
		f, err := gametest.WaitFor(g, m, cellSchema, func(f *engine.Frame[cellMeta, cellItem]) bool {
			return i == 0 || f.Meta.Prev != 0
		})
		if err != nil {
			t.Fatal(err)
		}
		got := f.Meta
		if got.Index != uint32(i) || got.Count != 3 || got.RunID == 0 {
			t.Fatalf("%s: index %d count %d run %x, want %d, 3 and a run id", m, got.Index, got.Count, got.RunID, i)
		}
		if run == 0 {
			run = got.RunID
		}
		if got.RunID != run {
			t.Fatalf("%s: run id %x, cell-0's %x: one run, one id", m, got.RunID, run)
		}
		if i > 0 && (got.Prev != uint32(i) || got.PrevCount != 3 || got.PrevRunID != run) {
			t.Fatalf("%s read index %d count %d run %x of the member before it, want %d, 3, %x", m, int(got.Prev)-1, got.PrevCount, got.PrevRunID, i-1, run)
		}
	}

	// ls lists every member's segment; top a row per member.
	out, err := g.Command("ls").CombinedOutput()
	for _, m := range members {
		if err != nil || !strings.Contains(string(out), g.Channel(m)+" ") {
			t.Fatalf("ls: %v, no row of %s:\n%s", err, m, out)
		}
	}
	out, err = g.Command("top", "-n", "1", "--interval", "50ms").CombinedOutput()
	for _, m := range members {
		if err != nil || !strings.Contains(string(out), "\n"+m+" ") {
			t.Fatalf("top: %v, no row of %s:\n%s", err, m, out)
		}
	}

	// send: a member by name; the group's name asks every member.
	if out, err := g.Command("send", "cell-1", "add").CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "applied" {
		t.Fatalf("send cell-1 add: %v: %q", err, out)
	}
	out, err = g.Command("send", "cell", "add").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "cell-0: applied\ncell-1: applied\ncell-2: applied" {
		t.Fatalf("send cell add: %v: %q, want a line per member", err, out)
	}
	for i, m := range members {
		want := uint64(1)
		if i == 1 {
			want = 2
		}
		if _, err := gametest.WaitFor(g, m, cellSchema, func(f *engine.Frame[cellMeta, cellItem]) bool { return f.Meta.Adds == want }); err != nil {
			t.Fatalf("%s: %v (%d adds wanted)", m, err, want)
		}
	}
	// Every member refuses an op it does not know: a line each, exit 1.
	cmd := g.Command("send", "cell", "999")
	out, err = cmd.CombinedOutput()
	if lines := strings.Split(strings.TrimSpace(string(out)), "\n"); cmd.ProcessState.ExitCode() != 1 || len(lines) < 3 ||
		!strings.HasPrefix(lines[0], "cell-0: refused: ") || !strings.HasPrefix(lines[2], "cell-2: refused: ") {
		t.Fatalf("send cell 999: %v: %q, want each member's refusal and exit 1", err, out)
	}

	// fault: the group's name is ambiguous; a member outside the group is
	// no member; a member takes the fault.
	for _, args := range [][]string{{"fault", "cell", "panic"}, {"fault", "cell-3", "panic"}, {"fault", "cell-03", "panic"}} {
		cmd := g.Command(args...)
		out, _ := cmd.CombinedOutput()
		if cmd.ProcessState.ExitCode() != 2 || !strings.Contains(string(out), "cell-0, cell-1, cell-2") && args[1] != "cell-03" {
			t.Fatalf("%q: exit %d %q, want a usage error naming the members", args, cmd.ProcessState.ExitCode(), out)
		}
	}
	before, err := g.Child("cell-0")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := g.Command("fault", "cell-0", "exit", "--code", "3").CombinedOutput(); err != nil {
		t.Fatalf("fault cell-0 exit: %v: %s", err, out)
	}
	if err := g.Wait("cell-0 replaced after its exit", func() bool {
		c, err := g.Child("cell-0")
		return err == nil && c.Restarts > before.Restarts && c.State == supervisor.ChildRunning
	}); err != nil {
		t.Fatal(err)
	}

	// A SIGKILL of a member's pid: its standby takes over at once; the
	// members beside it run on, and the next one follows the successor.
	var c supervisor.ChildStatus
	if err := g.Wait("cell-1 stable with its standby ready", func() bool {
		c, err = g.Child("cell-1")
		return err == nil && stableWithStandby(c)
	}); err != nil {
		t.Fatal(err)
	}
	others := map[string]supervisor.ChildStatus{}
	for _, m := range []string{"cell-0", "cell-2"} {
		if others[m], err = g.Child(m); err != nil {
			t.Fatal(err)
		}
	}
	after, err := g.Kill("cell-1")
	if err != nil {
		t.Fatal(err)
	}
	if after.Pid != c.StandbyPid || after.Replaced != supervisor.HandoverAtOnce || after.ReasonString() != "killed by SIGKILL" {
		t.Fatalf("cell-1 after SIGKILL: pid %d replaced %v reason %q, want its standby's pid %d handed over at once",
			after.Pid, after.Replaced, after.ReasonString(), c.StandbyPid)
	}
	for m, was := range others {
		now, err := g.Child(m)
		if err != nil || now.Pid != was.Pid || now.Restarts != was.Restarts {
			t.Fatalf("%s: pid %d restarts %d, was %d %d: a member's kill touched another (%v)", m, now.Pid, now.Restarts, was.Pid, was.Restarts, err)
		}
	}
	if _, err := gametest.WaitFor(g, "cell-2", cellSchema, func(f *engine.Frame[cellMeta, cellItem]) bool {
		return f.Meta.Prev == 2 && f.Meta.PrevRunID == run
	}); err != nil {
		t.Fatal(err)
	}
}

// TestGroupCountChanged: a run killed with 2 members leaves their
// segments; a run with another count is refused before anything starts,
// naming them and the way out; --fresh removes them, whatever their
// count, and starts afresh.
func TestGroupCountChanged(t *testing.T) {
	inst := gametest.Instance(t)
	t.Cleanup(func() { gametest.RemoveSegments(inst) })
	g, err := gametest.Launch(gametest.Options{Instance: inst, Args: []string{"run", "--cells=2"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Ready(); err != nil {
		t.Fatal(err)
	}
	// The supervisor killed outright: its children die with it (their
	// parent-death signal), their segments stay for the next run.
	if err := syscall.Kill(g.Pid(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-g.Done()
	proctest.Eventually(t, 20*time.Second, "the members' segments left unowned", func() bool {
		for _, m := range []string{"cell-0", "cell-1"} {
			if info, err := venom.Inspect(inst + "." + m); err != nil || info.Owned {
				return false
			}
		}
		return true
	})

	for _, n := range []string{"1", "3"} {
		cmd := gametest.Command("run", "--instance="+inst, "--headless", "--cells="+n, "--duration=30s")
		out, _ := cmd.CombinedOutput()
		if cmd.ProcessState.ExitCode() != 2 || !strings.Contains(string(out), inst+".cell-1") ||
			!strings.Contains(string(out), "run with --cells 2 or --fresh") {
			t.Fatalf("run --cells %s after a run of 2: exit %d\n%s\nwant a refusal naming the segments and --cells 2 or --fresh", n, cmd.ProcessState.ExitCode(), out)
		}
		if _, err := venom.Inspect(inst + ".cell"); n == "1" && err == nil {
			t.Fatal("the refused run started cell")
		}
	}

	// --fresh: the old members removed, the new count runs. (The killed
	// supervisor's status goes first: the kit waits for the new run's
	// children by the status, and the old one, frozen, says "running".)
	venom.Remove(supervisor.StatusChannel(inst))
	g2 := gametest.Start(t, "run", "--instance="+inst, "--cells=1", "--fresh")
	if ms, err := g2.Members("cell"); err != nil || !slices.Equal(ms, []string{"cell"}) {
		t.Fatalf("members %q (%v), want cell alone", ms, err)
	}
	for _, m := range []string{"cell-0", "cell-1"} {
		if _, err := venom.Inspect(inst + "." + m); !errors.Is(err, venom.ErrNotFound) {
			t.Fatalf("%s after --fresh: %v, want it removed", m, err)
		}
	}
	f, err := gametest.WaitFor(g2, "cell", cellSchema, func(*engine.Frame[cellMeta, cellItem]) bool { return true })
	if err != nil || f.Meta.Index != 0 || f.Meta.Count != 1 {
		t.Fatalf("cell: %+v (%v), want index 0 of 1", f.Meta, err)
	}
}

// TestGroupBadCounts: a count outside 1..MaxGroup or not a number, and a
// member name outside the group, are usage errors before anything
// starts.
func TestGroupBadCounts(t *testing.T) {
	inst := gametest.Instance(t)
	g := groupGame()
	for _, args := range [][]string{
		{"run", "--cells=0"},
		{"run", "--cells=65"},
		{"run", "--cells=two"},
		{"proc", "cell-7", "--cells=2"},
		{"proc", "cell-0"},
		{"proc", "cell", "--cells=2"},
		{"proc", "cell-01", "--cells=2"},
	} {
		var out strings.Builder
		err := g.Command(context.Background(), append(args, "--instance="+inst, "--headless"), &out, &out)
		if !errors.Is(err, game.ErrUsage) || game.ExitCode(err) != 2 {
			t.Errorf("%q: %v (exit %d), want a usage error", args, err, game.ExitCode(err))
		}
		if strings.HasPrefix(args[1], "cell-") && args[1] != "cell-01" && !strings.Contains(err.Error(), "cell") {
			t.Errorf("%q: %v: the error names no member", args, err)
		}
	}
	if ms, _ := venom.List(); slices.ContainsFunc(ms, func(n string) bool { return strings.HasPrefix(n, inst+".") }) {
		t.Fatal("a refused command line left a segment")
	}
}

// TestGroupDeclarations: a grouped name too long for its members'
// names, a group on a flag the game does not register or on one that is
// not an integer, and a process named as a member of a group are
// declaration errors before anything starts.
func TestGroupDeclarations(t *testing.T) {
	idle := func(ctx context.Context, env game.Env) error { <-ctx.Done(); return nil }
	grouped := func(name, flagName string) game.Process {
		p := game.Custom[cellMeta, cellItem](name, 10, idle)
		p.Group = flagName
		return p
	}
	flags := func(fs *flag.FlagSet) {
		fs.Int("n", 2, "members")
		fs.String("label", "3", "not a count")
	}
	for _, tc := range []struct {
		name string
		g    *game.Game
		want error
		msg  string
	}{
		{"a name of 13 bytes", game.New("x").Flags(flags).Add(grouped("thirteen-byte", "n")), game.ErrName, "[a-z0-9-]{1,12}"},
		{"a flag not registered", game.New("x").Flags(flags).Add(grouped("cell", "cells")), game.ErrDeclare, "--cells"},
		{"a string flag", game.New("x").Flags(flags).Add(grouped("cell", "label")), game.ErrDeclare, "not an integer"},
		{"a member's name", game.New("x").Flags(flags).Add(grouped("cell", "n"), game.Custom[cellMeta, cellItem]("cell-1", 10, idle)), game.ErrDuplicate, `"cell-1"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.g.Command(context.Background(), []string{"run", "--instance", "groupdecl", "--duration", "1s"}, io.Discard, io.Discard)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) || game.ExitCode(err) == 0 {
				t.Fatalf("Command: %v, want %v naming %s", err, tc.want, tc.msg)
			}
		})
	}
	// The longest name runs 64 members, the last NAME-63: 15 bytes.
	g := game.New("x").Flags(flags).Add(grouped("twelve-bytes", "n"))
	f := g.NewFlags("run")
	if _, err := g.Parse(f, []string{"--n=64"}); err != nil {
		t.Fatal(err)
	}
	ch := g.Children(f)
	if len(ch) != 64 || ch[63].Name != "twelve-bytes-63" || ch[63].Index != 63 || ch[63].Count != 64 {
		t.Fatalf("children of 64: %d, the last %+v", len(ch), ch[len(ch)-1])
	}
}

// TestGroupFlags: what a tool gets of a group from a subcommand's flags —
// the count, the children named as run names them, the count a tool sets
// (bench's sweep), an Env whose Member and Members name the channels.
func TestGroupFlags(t *testing.T) {
	g := groupGame()
	f := g.NewFlags("run")
	if _, err := g.Parse(f, []string{"--cells=1", "--instance=flagtest"}); err != nil {
		t.Fatal(err)
	}
	if ch := g.Children(f); len(ch) != 1 || ch[0].Name != "cell" || ch[0].Count != 1 {
		t.Fatalf("children of 1: %+v", ch)
	}
	env := g.Env(f)
	if env.Member("cell", 0) != "flagtest.cell" || !slices.Equal(env.Members("cell"), []string{"flagtest.cell"}) {
		t.Fatalf("a group of 1: Member %q, Members %q", env.Member("cell", 0), env.Members("cell"))
	}
	if err := f.SetCount("cells", 4); err != nil {
		t.Fatal(err)
	}
	env = g.Env(f)
	if args := f.GroupArgs(); !slices.Equal(args, []string{"--cells=4"}) {
		t.Fatalf("GroupArgs %q, want --cells=4", args)
	}
	if f.Count("cell") != 4 || env.Member("cell", 2) != "flagtest.cell-2" || len(env.Members("cell")) != 4 ||
		!slices.Contains(f.ChildArgs(), "--cells=4") {
		t.Fatalf("count %d, Member %q, Members %q, child args %q", f.Count("cell"), env.Member("cell", 2), env.Members("cell"), f.ChildArgs())
	}
	// A tool that takes the flag over (bench's list) sets the count all
	// the same, and the children get it.
	f = g.NewFlags("bench", "cells")
	if _, err := g.Parse(f, nil); err != nil {
		t.Fatal(err)
	}
	if err := f.SetCount("cells", 2); err != nil || f.Count("cell") != 2 || !slices.Contains(f.ChildArgs(), "--cells=2") {
		t.Fatalf("SetCount over a skipped flag: %v, count %d, args %q", err, f.Count("cell"), f.ChildArgs())
	}
	// The count of a skipped flag comes from its default as declared,
	// and reading it leaves the other flags' parsed values alone.
	var size int
	sized := game.New("x").Flags(func(fs *flag.FlagSet) {
		fs.IntVar(&size, "size", 1, "a size")
		fs.Int("cells", 3, "members")
	})
	p := game.Custom[cellMeta, cellItem]("cell", 10, func(ctx context.Context, env game.Env) error { return nil })
	p.Group = "cells"
	sized.Add(p)
	sf := sized.NewFlags("bench", "cells")
	if _, err := sized.Parse(sf, []string{"--size=7"}); err != nil {
		t.Fatal(err)
	}
	if sf.Count("cell") != 3 || len(sized.Children(sf)) != 3 || size != 7 {
		t.Fatalf("a skipped group flag: count %d, children %d, --size %d (want 3, 3, 7)", sf.Count("cell"), len(sized.Children(sf)), size)
	}
	for _, bad := range []int{0, game.MaxGroup + 1} {
		if err := f.SetCount("cells", bad); !errors.Is(err, game.ErrUsage) {
			t.Fatalf("SetCount %d: %v, want a usage error", bad, err)
		}
	}
	if f.DrawRunID() == 0 || !slices.ContainsFunc(f.ChildArgs(), func(a string) bool { return strings.HasPrefix(a, "--run-id=") && a != "--run-id=0" }) {
		t.Fatalf("DrawRunID: child args %q", f.ChildArgs())
	}
}

// TestGroupRemoveSegments: --fresh's removal finds a group's segments of
// any count, NAME and NAME-<digits>, and nothing else.
func TestGroupRemoveSegments(t *testing.T) {
	inst := gametest.Instance(t)
	t.Cleanup(func() { gametest.RemoveSegments(inst) })
	cfg := venom.Config{DataSize: 256, CmdSlots: 2, CmdSize: 64, RespSize: 64, MaxClients: 2}
	for _, n := range []string{"cell", "cell-0", "cell-70", "cellar", "cell-x"} {
		d, err := venom.Create(inst+"."+n, cfg)
		if err != nil {
			t.Fatal(err)
		}
		d.Close()
	}
	groupGame().RemoveSegments(inst)
	for _, n := range []string{"cell", "cell-0", "cell-70"} {
		if _, err := venom.Inspect(inst + "." + n); !errors.Is(err, venom.ErrNotFound) {
			t.Errorf("%s: %v, want it removed", n, err)
		}
	}
	for _, n := range []string{"cellar", "cell-x"} {
		if _, err := venom.Inspect(inst + "." + n); err != nil {
			t.Errorf("%s: %v, want it kept (no member's name)", n, err)
		}
	}
}
