package minimal

import (
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/engine/gametest"
)

// The test binary is the game when the kit starts it.
func TestMain(m *testing.M) { gametest.Main(m, Game()) }

// herdAt waits for a herd snapshot that satisfies cond and checks the
// herd's ledger of catches: every catch applied removed exactly one
// grazer (Caught == LastCatch), and no grazer went any other way.
func herdAt(t *testing.T, g *gametest.Game, what string, cond func(m HerdMeta) bool) engine.Frame[HerdMeta, Grazer] {
	t.Helper()
	f, err := gametest.WaitFor(g, "herd", HerdSchema, func(f *engine.Frame[HerdMeta, Grazer]) bool { return cond(f.Meta) })
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if m := f.Meta; uint64(m.Caught) != m.LastCatch || int(m.NextID) != len(f.Items)+int(m.Caught) {
		t.Fatalf("%s: herd %+v with %d grazers: a catch missed or applied twice", what, m, len(f.Items))
	}
	return f
}

// hunterAt waits for a hunter snapshot that satisfies cond.
func hunterAt(t *testing.T, g *gametest.Game, what string, cond func(m HunterMeta) bool) engine.Frame[HunterMeta, Catch] {
	t.Helper()
	f, err := gametest.WaitFor(g, "hunter", HunterSchema, func(f *engine.Frame[HunterMeta, Catch]) bool { return cond(f.Meta) })
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return f
}

// Each process SIGKILLed in turn: the other, which follows it, carries
// on, and its successor resumes from its last snapshot; every catch the
// hunter made is applied by the herd exactly once.
func TestKilledProcessesResumeAndFollowersCarryOn(t *testing.T) {
	g := gametest.Start(t, "run", "--grazers=32")
	// A few catches first, so that the hunter has forgotten the ones the
	// herd applied: the herd's successor must know them from its own
	// snapshot.
	herdAt(t, g, "three catches applied", func(m HerdMeta) bool { return m.LastCatch >= 3 })

	// The herd killed: the hunter, which follows it, goes on ticking and
	// the herd's successor applies the catches made meanwhile.
	before := hunterAt(t, g, "the hunter", func(HunterMeta) bool { return true })
	if _, err := g.Kill("herd"); err != nil {
		t.Fatal(err)
	}
	after := hunterAt(t, g, "the hunter ticking on", func(m HunterMeta) bool { return m.Ticks > before.Meta.Ticks+30 })
	if after.Epoch != before.Epoch {
		t.Errorf("the hunter's epoch %d → %d: it restarted with the herd", before.Epoch, after.Epoch)
	}
	herdAt(t, g, "the herd's successor applying the hunter's catches", func(m HerdMeta) bool {
		return m.LastCatch >= after.Meta.Catches
	})

	// The hunter killed: its catches' numbers go on from its snapshot,
	// and the herd, which follows it, applies the successor's.
	h := hunterAt(t, g, "the hunter", func(HunterMeta) bool { return true })
	if _, err := g.Kill("hunter"); err != nil {
		t.Fatal(err)
	}
	h2 := hunterAt(t, g, "the hunter's successor catching", func(m HunterMeta) bool { return m.Catches > h.Meta.Catches+1 })
	if h2.Meta.Ticks < h.Meta.Ticks {
		t.Errorf("hunter ticks %d → %d: not resumed", h.Meta.Ticks, h2.Meta.Ticks)
	}
	herdAt(t, g, "the herd applying the successor's catches", func(m HerdMeta) bool { return m.LastCatch >= h2.Meta.Catches })
}

// A command the herd refuses reaches the sender with the herd's reason,
// and changes nothing; one it applies does what it says.
func TestSpawnRefusedWithReason(t *testing.T) {
	g := gametest.Start(t, "run", "--grazers=30")
	err := g.Ask("herd", engine.Cmd(OpSpawn, 5))
	var refused *engine.RefusedError
	if !errors.As(err, &refused) || !strings.Contains(refused.Reason, "herd full") {
		t.Fatalf("spawn 5 in a herd of 30: %v, want refused: herd full", err)
	}
	t.Logf("refused: %s", refused.Reason)
	if err := g.Ask("herd", engine.Cmd(OpSpawn, 1.5)); !errors.Is(err, engine.ErrRefused) || !strings.Contains(err.Error(), "whole number") {
		t.Errorf("spawn 1.5: %v, want refused: a whole number", err)
	}
	if err := g.Ask("hunter", engine.Cmd(OpSpawn, 1)); !errors.Is(err, engine.ErrRefused) {
		t.Errorf("a command to the hunter: %v, want refused", err)
	}
	if err := g.Ask("herd", engine.Cmd(OpSpawn, 2)); err != nil {
		t.Fatalf("spawn 2: %v", err)
	}
	f := herdAt(t, g, "the spawn", func(m HerdMeta) bool { return m.NextID == 32 })
	if f.Dropped != 3-1 { // the hunter's refusal is the hunter's
		t.Errorf("herd dropped %d commands, want the 2 it refused", f.Dropped)
	}

	// The same from the command line: "minimal send" prints the answer,
	// exit 1 for a refusal, 0 when applied.
	out, err := g.Command("send", "herd", "spawn", "1").CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(string(out), "herd full") {
		t.Errorf("send herd spawn 1 to a full herd: %v\n%s: want exit 1, refused: herd full", err, out)
	}
	t.Logf("minimal send herd spawn 1: %s", strings.TrimSpace(string(out)))
}

// The herd's snapshot is its whole state: restored from it, a herd goes
// on bit for bit, spawning as the one that published it.
func TestHerdRestoresExactly(t *testing.T) {
	noHunter := engine.Follow(gametest.Instance(t)+".hunter", HunterSchema, engine.FollowOptions{}) // never made: no catches
	defer noHunter.Close()
	h := &Herd{N: 5, hunter: noHunter}
	if err := h.Restore(nil); err != nil {
		t.Fatal(err)
	}
	for range 40 {
		h.Step(0)
	}
	err := gametest.CheckRestore(gametest.RestoreCheck[HerdMeta, Grazer]{
		Schema: HerdSchema, Steps: 300,
		Commands: func(tick int) []engine.Command {
			if tick%50 == 0 {
				return []engine.Command{engine.Cmd(OpSpawn, 3)}
			}
			return nil
		},
	}, h, &Herd{hunter: noHunter})
	if err != nil {
		t.Fatal(err)
	}
}

// The example is built on the public API only: its binary links venom,
// engine, engine/supervisor, engine/game (with engine/watch, which its
// built-in top reads through) and the tool it registers —
// nothing internal, nothing of the demo or its processes.
func TestLinksOnlyThePublicAPI(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "./cmd/minimal").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	allowed := map[string]bool{"venom": true, "engine": true, "engine/supervisor": true, "engine/game": true, "engine/watch": true, "engine/chaos": true,
		"examples/minimal": true, "examples/minimal/cmd/minimal": true}
	for _, p := range strings.Fields(string(out)) {
		if rel, ok := strings.CutPrefix(p, "github.com/venomrt/venomrt/"); ok && !allowed[rel] {
			t.Errorf("cmd/minimal links %s", p)
		}
	}
}
