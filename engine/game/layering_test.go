package game

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// The game API links no tool: nothing of NATS, no plotting library, no
// Prometheus client, none
// of the tools' packages (a game links those it registers); and nothing
// under engine/ depends on the demo's processes (procs/) or the demo.
func TestLinksNoTool(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command on PATH")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	const mod = "github.com/venomrt/venomrt/"
	for _, p := range strings.Fields(string(out)) {
		for _, bad := range []string{"github.com/nats-io/", "gonum.org/", "github.com/prometheus/", mod + "engine/metrics", mod + "engine/chaos", mod + "engine/bench", mod + "engine/bridge", mod + "procs/", mod + "demo"} {
			if strings.HasPrefix(p, bad) {
				t.Errorf("engine/game links %s", p)
			}
		}
	}
	out, err = exec.CommandContext(ctx, "go", "list", "-f", `{{.ImportPath}}: {{join .Deps " "}}`, "../...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list ../...: %v\n%s", err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, deps, _ := strings.Cut(line, ": ")
		for _, p := range strings.Fields(deps) {
			if strings.HasPrefix(p, mod+"procs/") || strings.HasPrefix(p, mod+"demo") {
				t.Errorf("%s depends on %s", pkg, p)
			}
		}
	}
}
