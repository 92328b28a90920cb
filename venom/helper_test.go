package venom

import (
	"context"
	"testing"
	"time"

	"github.com/venomrt/venomrt/internal/proctest"
)

// helpers are the modes the test binary runs in when a test re-executes
// it as a daemon or client process; test files add theirs in init.
var helpers = proctest.Helpers{}

func TestMain(m *testing.M) { proctest.Main(m, helpers) }

type proc = proctest.Proc

func startProc(t testing.TB, mode string, args ...string) *proc {
	t.Helper()
	return proctest.Start(t, mode, args...)
}

// chanName is a channel name unique to this process and test; its
// segment is removed when the test ends.
func chanName(t testing.TB) string {
	t.Helper()
	name := proctest.Name(t)
	Remove(name)
	t.Cleanup(func() { Remove(name) })
	return name
}

func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	proctest.Eventually(t, within, what, cond)
}

func ctxFor(t testing.TB, d time.Duration) context.Context { return proctest.Context(t, d) }
