package heat

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// A game links only what it registers: heat registers chaos and bench
// (without its plot) and no NATS bridge, so its binary links no NATS
// client or server, no plotting library, and nothing of the demo's
// processes (procs/) or the demo (demo/) — while it does link the two
// tools it registers.
func TestLinksOnlyWhatItRegisters(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command on PATH")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "list", "-deps", "./cmd/heat").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps ./cmd/heat: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	for _, p := range deps {
		for _, bad := range []string{"github.com/nats-io/", "gonum.org/", "github.com/venomrt/venomrt/procs/", "github.com/venomrt/venomrt/demo",
			"github.com/venomrt/venomrt/engine/bridge", "github.com/venomrt/venomrt/engine/bench/plot"} {
			if strings.HasPrefix(p, bad) {
				t.Errorf("cmd/heat links %s", p)
			}
		}
	}
	for _, want := range []string{"github.com/venomrt/venomrt/engine/chaos", "github.com/venomrt/venomrt/engine/bench"} {
		if !strings.Contains("\n"+string(out), "\n"+want+"\n") {
			t.Errorf("cmd/heat does not link %s, which it registers", want)
		}
	}
}

// Heat's usage shows what it registers and nothing else: chaos and
// bench, no edge; run -h has no NATS flag and bench -h no --plot.
func TestUsageShowsOnlyWhatItRegisters(t *testing.T) {
	help := func(args ...string) string {
		var out, errs bytes.Buffer
		if err := Game(nil).Command(context.Background(), args, &out, &errs); err != nil && !errors.Is(err, flag.ErrHelp) {
			t.Fatalf("%q: %v", args, err)
		}
		return out.String() + errs.String()
	}
	usage := help("help")
	if !strings.Contains(usage, "  chaos   ") || !strings.Contains(usage, "  bench   ") || strings.Contains(usage, "edge") {
		t.Errorf("heat's usage:\n%s", usage)
	}
	if run := help("run", "-h"); strings.Contains(run, "nats") || !strings.Contains(run, "-width") {
		t.Errorf("heat run -h:\n%s", run)
	}
	if bench := help("bench", "-h"); strings.Contains(bench, "-plot") || !strings.Contains(bench, "-width") {
		t.Errorf("heat bench -h:\n%s", bench)
	}
}
