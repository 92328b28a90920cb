package game

import (
	"errors"
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/venomrt/venomrt/venom"
)

// MaxGroup is the most members a process group runs. Each member is a
// child with its own channel, standby and status row, so a group of 64
// is 64 processes (128 with their standbys) and 64 segments; a member's
// name NAME-63 must fit the 15 bytes of a child's name (the status
// slice's fixed field), which leaves a grouped process 12 bytes.
const MaxGroup = 64

// validGroupName is what a grouped process may be called: its members'
// names, NAME-0 … NAME-63, must stay within validName's 15 bytes.
var validGroupName = regexp.MustCompile(`^[a-z0-9-]{1,12}$`)

// Member is one child of the game's own declaration as run names and
// starts it: a process not in a group, one member of a group, or the
// renderer.
type Member struct {
	// Name is the child's name and the last part of its channel: the
	// process's name, or NAME-i for member i of a group of more than
	// one; RenderName for the renderer.
	Name string
	// Process is the declared process (for the renderer: a Process
	// whose Name is RenderName and nothing else set).
	Process Process
	// Index and Count place the member in its group: 0 and 1 for a
	// process not in a group, a group of 1, and the renderer.
	Index, Count int
}

// MemberName is the child name of member i of a group of n called
// name: name itself when n is 1, else "name-i".
func MemberName(name string, i, n int) string {
	if n <= 1 {
		return name
	}
	return name + "-" + strconv.Itoa(i)
}

// Children are the children of the game's own declaration as run starts
// them with the flags f: each process not in a group, each member of
// each group (Process.Group: its count is f's value of that flag, or the
// one SetCount gave), in declaration order, the renderer last. A tool's
// children are not among them. f is a subcommand's flags parsed with
// Parse, which refuses a count outside 1..MaxGroup.
func (g *Game) Children(f *Flags) []Member {
	var ms []Member
	for _, p := range g.procs {
		n := f.Count(p.Name)
		for i := range n {
			ms = append(ms, Member{Name: MemberName(p.Name, i, n), Process: p, Index: i, Count: n})
		}
	}
	if g.renderer != nil {
		ms = append(ms, Member{Name: RenderName, Process: Process{Name: RenderName}, Count: 1})
	}
	return ms
}

// member is the child called name (as run names it) under f: a member
// of a group by its NAME-i, a process not in a group or the renderer by
// its name. A group of more than one called by its own name, or an
// index outside the group, is an error that names the members (the
// caller's to call a usage error).
func (g *Game) member(f *Flags, name string) (Member, error) {
	ms := g.Children(f)
	if i := slices.IndexFunc(ms, func(m Member) bool { return m.Name == name }); i >= 0 {
		return ms[i], nil
	}
	if p, ok := g.process(name); ok && p.Group != "" {
		n := f.Count(name)
		return Member{}, fmt.Errorf("%s is a group of %d (--%s %d): name a member, %s", name, n, p.Group, n, memberRange(name, n))
	}
	if base, _, ok := splitMember(name); ok {
		if p, ok := g.process(base); ok && p.Group != "" {
			n := f.Count(base)
			if n == 1 {
				return Member{}, fmt.Errorf("%s: the group %s has 1 member (--%s 1), called %s", name, base, p.Group, base)
			}
			return Member{}, fmt.Errorf("%s: the group %s has %d members (--%s %d): %s", name, base, n, p.Group, n, memberRange(base, n))
		}
	}
	return Member{}, fmt.Errorf("unknown process %q (want %s)", name, strings.Join(g.memberNames(f), ", "))
}

// memberRange names a group's members for a message: "physics-0 …
// physics-7" (both, for two or three).
func memberRange(name string, n int) string {
	switch {
	case n <= 1:
		return name
	case n <= 3:
		var s []string
		for i := range n {
			s = append(s, MemberName(name, i, n))
		}
		return strings.Join(s, ", ")
	}
	return fmt.Sprintf("%s-0 … %s-%d", name, name, n-1)
}

// memberNames are the children's names under f, a group's as a range.
func (g *Game) memberNames(f *Flags) []string {
	var names []string
	for _, p := range g.procs {
		names = append(names, memberRange(p.Name, f.Count(p.Name)))
	}
	if g.renderer != nil {
		names = append(names, RenderName)
	}
	return names
}

// splitMember splits a member's name NAME-i into NAME and i: i a
// decimal number below MaxGroup without a leading zero.
func splitMember(name string) (base string, i int, ok bool) {
	j := strings.LastIndexByte(name, '-')
	if j <= 0 || j == len(name)-1 {
		return "", 0, false
	}
	digits := name[j+1:]
	if len(digits) > 1 && digits[0] == '0' {
		return "", 0, false
	}
	i, err := strconv.Atoi(digits)
	if err != nil || i < 0 || i >= MaxGroup {
		return "", 0, false
	}
	return name[:j], i, true
}

// Count is how many members process runs with these flags: the value
// of its group's flag (or what SetCount set), 1 for a process not in a
// group or not declared. Parse has checked it is within 1..MaxGroup.
func (f *Flags) Count(process string) int {
	if f.g == nil {
		return 1
	}
	p, ok := f.g.process(process)
	if !ok || p.Group == "" {
		return 1
	}
	n, _ := f.groupCount(p.Group)
	return max(n, 1)
}

// SetCount sets the count of the groups on flag to n for what these
// flags start from now on: Count, Children and ChildArgs (--flag=n).
// It is for a tool that takes a group's flag over (NewFlags' skip, as
// bench takes --regions as a list and runs each count in turn); a flag
// f has is simply set. n outside 1..MaxGroup, or a flag no group is on,
// is a usage error.
func (f *Flags) SetCount(flagName string, n int) error {
	if f.g == nil || !f.g.isGroupFlag(flagName) {
		return fmt.Errorf("%w: no process group on --%s", ErrUsage, flagName)
	}
	if n < 1 || n > MaxGroup {
		return fmt.Errorf("%w: --%s %d: want 1..%d", ErrUsage, flagName, n, MaxGroup)
	}
	if f.Lookup(flagName) != nil {
		return f.Set(flagName, strconv.Itoa(n))
	}
	if f.counts == nil {
		f.counts = map[string]int{}
	}
	f.counts[flagName] = n
	return nil
}

// GroupArgs are the flags that carry every group's count, "--FLAG=N"
// each, for a tool's child whose command line is its own rather than
// ChildArgs (the bridge's "proc bridge"): given them, its Env's Member
// and Members name the members as run does.
func (f *Flags) GroupArgs() []string {
	var args []string
	if f.g == nil {
		return nil
	}
	for _, p := range f.g.procs {
		if p.Group == "" || slices.Contains(args, "--"+p.Group+"="+strconv.Itoa(f.Count(p.Name))) {
			continue
		}
		args = append(args, "--"+p.Group+"="+strconv.Itoa(f.Count(p.Name)))
	}
	return args
}

// groupCount is the value of a group's flag: what SetCount set, else
// the flag's value in f, else the default the game registered it with
// (a flag f skipped). It never registers the game's flags again: that
// would set their variables back to the defaults after a parse.
func (f *Flags) groupCount(flagName string) (int, error) {
	if n, ok := f.counts[flagName]; ok {
		return n, nil
	}
	if fl := f.Lookup(flagName); fl != nil {
		return intValue(fl)
	}
	if n, ok := f.defaults[flagName]; ok {
		return n, nil
	}
	return 0, fmt.Errorf("%w: --%s is not one of the game's integer flags", ErrDeclare, flagName)
}

// isGroupFlag reports whether a group is on the flag called name.
func (g *Game) isGroupFlag(name string) bool {
	return slices.ContainsFunc(g.procs, func(p Process) bool { return p.Group == name })
}

// intValue is an integer flag's value; any other flag is an error.
func intValue(fl *flag.Flag) (int, error) {
	gt, ok := fl.Value.(flag.Getter)
	if !ok {
		return 0, fmt.Errorf("--%s is not an integer flag", fl.Name)
	}
	const most = 1 << 31
	switch v := gt.Get().(type) {
	case int:
		return v, nil
	case int64:
		return int(max(min(v, most), -most)), nil
	case uint:
		return int(min(v, most)), nil
	case uint64:
		return int(min(v, most)), nil
	}
	return 0, fmt.Errorf("--%s is not an integer flag", fl.Name)
}

// gameFlags is a flag set of the game's own flags at their defaults.
// Registering binds the game's variables to their defaults again, as
// every NewFlags does before it parses: only for a check before any
// subcommand parses its flags (declaredGroups).
func (g *Game) gameFlags() *flag.FlagSet {
	fs := flag.NewFlagSet(g.name, flag.ContinueOnError)
	for _, register := range g.flags {
		register(fs)
	}
	return fs
}

// checkGroups checks the groups' counts in f, after its flags are
// parsed: 1..MaxGroup, or a usage error that says why the bound is.
func (g *Game) checkGroups(f *Flags) error {
	for _, p := range g.procs {
		if p.Group == "" {
			continue
		}
		n, err := f.groupCount(p.Group)
		if err != nil {
			return fmt.Errorf("%w: %s: %v", ErrUsage, f.Name(), err)
		}
		if n < 1 || n > MaxGroup {
			return fmt.Errorf("%w: %s: --%s %d: want 1..%d (the members of %s)", ErrUsage, f.Name(), p.Group, n, MaxGroup, p.Name)
		}
	}
	return nil
}

// declaredGroups checks the groups against the rest of the declaration,
// once every flag is registered: a group's flag is one of the game's
// integer flags (Game.Flags), and no other process takes a member's
// name.
func (g *Game) declaredGroups() []error {
	var errs []error
	var fs *flag.FlagSet
	for _, p := range g.procs {
		if p.Group == "" {
			continue
		}
		if fs == nil {
			fs = g.gameFlags()
		}
		fl := fs.Lookup(p.Group)
		if fl == nil {
			errs = append(errs, fmt.Errorf("%w: process %q: its group's flag --%s is not one of the game's (Game.Flags)", ErrDeclare, p.Name, p.Group))
		} else if _, err := intValue(fl); err != nil {
			errs = append(errs, fmt.Errorf("%w: process %q: its group's flag %v", ErrDeclare, p.Name, err))
		}
		for _, q := range g.procs {
			if base, _, ok := splitMember(q.Name); ok && base == p.Name {
				errs = append(errs, fmt.Errorf("%w: %q is a member's name of the group %q", ErrDuplicate, q.Name, p.Name))
			}
		}
		for _, r := range append(slices.Clone(g.reserved), RenderName, "sup") {
			if base, _, ok := splitMember(r); ok && base == p.Name {
				errs = append(errs, fmt.Errorf("%w: %q (a tool's) is a member's name of the group %q", ErrDuplicate, r, p.Name))
			}
		}
	}
	return errs
}

// groupSegments are the segments of an instance that belong to the
// process called name, by index: -1 for "<instance>.name", i for
// "<instance>.name-i" (any number of digits, so that a segment of any
// count is found).
func groupSegments(instance, name string) map[int]string {
	segs := map[int]string{}
	all, _ := venom.List()
	prefix := instance + "." + name
	for _, s := range all {
		rest, ok := strings.CutPrefix(s, prefix)
		switch {
		case !ok:
		case rest == "":
			segs[-1] = s
		case len(rest) > 1 && rest[0] == '-' && allDigits(rest[1:]):
			if i, err := strconv.Atoi(rest[1:]); err == nil {
				segs[i] = s
			}
		}
	}
	return segs
}

func allDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// checkCounts refuses, before anything starts, a group whose count
// changed since the instance's segments were made. The count they were
// made with is read from their names: NAME alone is a run of 1, NAME-0 …
// NAME-k a run of k+1 (a member that died before it made its segment
// is not seen: its group looks smaller). Segments of another count are
// a world cut another way, which the members would adopt as their own:
// NAME-i for i ≥ N, NAME when N > 1, NAME-i when N = 1, or fewer
// members than N; --fresh removes them first.
func (g *Game) checkCounts(f *Flags) error {
	var errs []error
	for _, p := range g.procs {
		if p.Group == "" {
			continue
		}
		n := f.Count(p.Name)
		segs := groupSegments(f.Instance, p.Name)
		if len(segs) == 0 {
			continue
		}
		had := 0 // the count that made them; 0: NAME and NAME-i both, no one count
		idx := slices.Sorted(maps.Keys(segs))
		switch {
		case len(idx) == 1 && idx[0] == -1:
			had = 1
		case idx[0] >= 0:
			had = idx[len(idx)-1] + 1
		}
		if had == n {
			continue
		}
		var found []string
		for _, i := range idx {
			found = append(found, segs[i])
		}
		fix := fmt.Sprintf("run with --%s %d or --fresh", p.Group, had)
		if had == 0 || had > MaxGroup {
			fix = "run with --fresh"
		}
		errs = append(errs, fmt.Errorf("%w: run: %s runs %d member(s) (--%s %d), but the instance %q holds the segments of a run of %s: %s; %s (which starts the group's world afresh)",
			ErrUsage, p.Name, n, p.Group, n, f.Instance, countWord(had), strings.Join(found, ", "), fix))
	}
	return errors.Join(errs...)
}

// countWord is how checkCounts says the count segments were made with.
func countWord(had int) string {
	if had == 0 {
		return "no one count"
	}
	return strconv.Itoa(had)
}

// DrawRunID gives the run an id, once: a random nonzero number into
// --run-id unless the command line set one, passed to every child
// (ChildArgs) as Env.RunID. run calls it; a tool that starts processes
// itself (bench) may, so that they share one.
func (f *Flags) DrawRunID() uint64 {
	for f.RunID == 0 {
		f.RunID = rand.Uint64()
	}
	return f.RunID
}

// Env is the Env of a process of this game started with the flags f, for
// a tool that reads the game's channels from outside (chaos): Instance,
// Fresh, Headless, RunID and every group's count, so that Member and
// Members name the members as run does. Log and Out are the caller's
// to set; Index and Count are 0 and 1.
func (g *Game) Env(f *Flags) Env {
	counts := map[string]int{}
	for _, p := range g.procs {
		if p.Group != "" {
			counts[p.Name] = f.Count(p.Name)
		}
	}
	return Env{Instance: f.Instance, Fresh: f.Fresh, Headless: f.Headless, RunID: f.RunID, Count: 1, counts: counts}
}

// Member is the channel of member i of the process called name, as this
// run names it: "<instance>.name" when that process runs one member (a
// process not in a group, or a group of 1), else "<instance>.name-i".
// It works for any declared process, from any process, the renderer and
// tools (an Env made by Game.Env); i is not checked against the count.
func (e Env) Member(name string, i int) string {
	return e.Channel(MemberName(name, i, e.count(name)))
}

// Members are the channels of every member of the process called name,
// in index order: one for a process not in a group.
func (e Env) Members(name string) []string {
	n := e.count(name)
	chs := make([]string, n)
	for i := range n {
		chs[i] = e.Member(name, i)
	}
	return chs
}

// count is how many members the process called name runs: 1 unless it
// is a group of more (an Env made by hand knows no groups).
func (e Env) count(name string) int {
	if n := e.counts[name]; n > 1 {
		return n
	}
	return 1
}

// targets are the children a tool that acts on a running instance
// (fault, send) means by name: the child itself for a process not in a
// group, the renderer or a member's NAME-i; for a group's own name, every
// member whose segment the instance has (NAME alone when it runs one),
// in index order. A name the game does not declare is an error (the
// caller's to call a usage error).
func (g *Game) targets(instance, name string) ([]string, error) {
	if name == RenderName && g.renderer != nil {
		return []string{name}, nil
	}
	if p, ok := g.process(name); ok {
		if p.Group == "" {
			return []string{name}, nil
		}
		segs := groupSegments(instance, name)
		var members []string
		for _, i := range slices.Sorted(maps.Keys(segs)) {
			if i >= 0 {
				members = append(members, name+"-"+strconv.Itoa(i))
			}
		}
		if len(members) == 0 {
			return []string{name}, nil
		}
		return members, nil
	}
	if base, i, ok := splitMember(name); ok {
		if p, ok := g.process(base); ok && p.Group != "" {
			segs := groupSegments(instance, base)
			if _, ok := segs[i]; ok || len(segs) == 0 {
				return []string{name}, nil // (none at all: the caller says the game does not run)
			}
			running, _ := g.targets(instance, base)
			return nil, fmt.Errorf("%s: no such member: the group %s runs %s", name, base, strings.Join(running, ", "))
		}
	}
	return nil, fmt.Errorf("unknown process %q (want %s)", name, g.declaredNames())
}

// declaredNames are the children's names for a usage message, a group's
// as "NAME[-i]".
func (g *Game) declaredNames() string {
	var names []string
	for _, n := range g.childNames() {
		if p, ok := g.process(n); ok && p.Group != "" {
			n += "[-i]"
		}
		names = append(names, n)
	}
	return strings.Join(names, ", ")
}
