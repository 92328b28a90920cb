package main

import (
	"os"
	"os/exec"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/internal/proctest"
	"github.com/venomrt/venomrt/venom"
)

// BenchmarkRestartLatency kills physics 20 times under a running game and
// times SIGKILL → the first publish of its successor. Baseline from the
// same run: starting this binary and waiting for it to exit (fork, exec
// and Go runtime start, the floor of any restart).
func BenchmarkRestartLatency(b *testing.B) {
	const kills = 20
	var lat []time.Duration
	for b.Loop() {
		game, inst := startGameB(b, "--failure-threshold", "1000")
		ch := inst + ".physics"
		proctest.Eventually(b, 20*time.Second, "physics up", func() bool {
			info, err := venom.Inspect(ch)
			return err == nil && info.Owned && info.Daemon.Latest > 5
		})
		for range kills {
			info, _ := venom.Inspect(ch)
			start := time.Now()
			syscall.Kill(info.Daemon.Pid, syscall.SIGKILL)
			for {
				now, err := venom.Inspect(ch)
				if err == nil && now.Daemon.Epoch > info.Daemon.Epoch && now.Daemon.Latest > info.Daemon.Latest {
					break
				}
				if time.Since(start) > 20*time.Second {
					b.Fatal("physics did not come back")
				}
				time.Sleep(200 * time.Microsecond)
			}
			lat = append(lat, time.Since(start))
			time.Sleep(engine.StableAfter + 100*time.Millisecond) // crashes a second apart, not a crash loop
		}
		game.Kill(b)
	}
	slices.Sort(lat)
	q := func(f float64) float64 { return float64(lat[int(f*float64(len(lat)-1))].Microseconds()) / 1000 }
	var exec []time.Duration
	for range 10 {
		start := time.Now()
		cmd := execSelf("help")
		if err := cmd.Run(); err != nil {
			b.Fatal(err)
		}
		exec = append(exec, time.Since(start))
	}
	slices.Sort(exec)
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(1), "max-ms") // of 20 kills: a p99 would be the max
	b.ReportMetric(float64(exec[len(exec)/2].Microseconds())/1000, "exec-p50-ms")
	b.Logf("restart SIGKILL→first publish over %d kills: p50 %.1f ms, max %.1f ms; exec baseline p50 %.1f ms",
		len(lat), q(0.5), q(1), float64(exec[len(exec)/2].Microseconds())/1000)
}

func execSelf(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
	return cmd
}
