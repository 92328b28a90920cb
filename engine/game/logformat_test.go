package game_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/venomrt/venomrt/engine/game"
	"github.com/venomrt/venomrt/internal/proctest"
)

// TestLogFormatJSON: run --log-format json logs every record, the
// supervisor's and its children's, as one JSON object a line, the
// lifecycle events with the keys event, process, pid (and reason for an
// exit); a bad format is a usage error.
func TestLogFormatJSON(t *testing.T) {
	instance := fmt.Sprintf("logjson%d", os.Getpid())
	var stderr proctest.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() {
		ran <- exampleGame().Command(ctx, []string{"run", "--headless", "--instance", instance, "--duration", "1m", "--log-format", "json"}, &bytes.Buffer{}, &stderr)
	}()
	defer exampleGame().RemoveSegments(instance)
	records := func() []map[string]any {
		var out []map[string]any
		for _, l := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
			var r map[string]any
			if l == "" {
				continue
			}
			if err := json.Unmarshal([]byte(l), &r); err != nil {
				t.Fatalf("not a JSON record: %q", l)
			}
			out = append(out, r)
		}
		return out
	}
	find := func(event string) map[string]any {
		for _, r := range records() {
			if r["event"] == event {
				return r
			}
		}
		return nil
	}
	wait := func(event string) map[string]any {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			if r := find(event); r != nil {
				return r
			}
			if time.Now().After(deadline) {
				t.Fatalf("no %q record within 30s:\n%s", event, stderr.String())
			}
		}
	}
	running := wait("running")
	if running["process"] != "counter" || running["pid"] == nil || running["msg"] == nil || running["level"] == nil {
		t.Fatalf("the running record: %v", running)
	}
	syscall.Kill(int(running["pid"].(float64)), syscall.SIGKILL)
	if exited := wait("exited"); exited["process"] != "counter" || exited["reason"] == nil {
		t.Fatalf("the exited record: %v", exited)
	}
	// A child's own records: its restart from the last snapshot.
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(stderr.String(), `"msg":"warm restart"`); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no child record in JSON:\n%s", stderr.String())
		}
	}
	cancel()
	<-ran
	records()

	var out bytes.Buffer
	if err := exampleGame().Command(context.Background(), []string{"ls", "--log-format", "yaml"}, &out, &out); game.ExitCode(err) != 2 {
		t.Fatalf("--log-format yaml: %v", err)
	}
	if err := exampleGame().Command(context.Background(), []string{"ls", "--log-format=json", "--instance", instance}, &out, &out); err != nil {
		t.Fatalf("ls --log-format=json: %v", err)
	}
}
