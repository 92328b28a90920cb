package main

import (
	"fmt"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/venomrt/venomrt/engine/supervisor"
	"github.com/venomrt/venomrt/internal/proctest"
	"github.com/venomrt/venomrt/venom"
)

// BenchmarkKillStorm times physics' recovery while it is SIGKILLed from
// outside again and again, every 1 s, 300 ms and 100 ms (or as soon as a
// successor publishes, when that is later): each kill → the first
// snapshot of a new epoch, with the game's hot standby. It shows the
// supervisor's policy: a process that was doing its work is replaced at
// once, however short its run, so the world does not freeze for a
// growing backoff. The baseline, in the same game run: single kills each
// after a stable run, the restart figure of BenchmarkRestartLatency.
func BenchmarkKillStorm(b *testing.B) {
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	for b.Loop() {
		game, inst := startGameB(b, "--failure-threshold", "1e6", "--duration", "30m", "--regions", strconv.Itoa(*restartRegs))
		ch := inst + "." + faulted()
		shell, epoch := physicsEpoch(b, inst)
		// kill SIGKILLs the channel's owner and waits for a new epoch.
		kill := func() time.Duration {
			var pid int
			proctest.Eventually(b, 20*time.Second, "physics owned", func() bool {
				info, err := venom.Inspect(ch)
				pid = info.Daemon.Pid
				return err == nil && info.Owned && pid > 0 && info.Daemon.Alive
			})
			old := epoch()
			start := time.Now()
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				b.Fatal(err)
			}
			for epoch() <= old {
				if time.Since(start) > 30*time.Second {
					b.Fatalf("physics did not come back after a SIGKILL of pid %d", pid)
				}
				time.Sleep(200 * time.Microsecond)
			}
			return time.Since(start)
		}
		var base []time.Duration
		for i := range 10 {
			// After a stable run, with a standby ready: the status of the
			// process after the i kills before, not a stale one.
			physicsStatus(b, inst, func(c supervisor.ChildStatus) bool {
				return c.State == supervisor.ChildRunning && c.Restarts == uint32(i) &&
					c.Uptime > int64(supervisor.StableAfter+200*time.Millisecond) && c.StandbyReady()
			})
			base = append(base, kill())
		}
		line := func(name string, lat []time.Duration) string {
			slices.Sort(lat)
			q := func(f float64) float64 { return ms(lat[int(f*float64(len(lat)-1))]) }
			b.ReportMetric(q(0.5), name+"-p50-ms")
			b.ReportMetric(q(1), name+"-max-ms")
			s := fmt.Sprintf("%d kills: p50 %.1f ms", len(lat), q(0.5))
			if len(lat) >= 100 {
				b.ReportMetric(q(0.99), name+"-p99-ms")
				s += fmt.Sprintf(", p99 %.1f ms", q(0.99))
			}
			return s + fmt.Sprintf(", max %.1f ms (%.1fx the baseline's p50)", q(1), q(1)/ms(base[len(base)/2]))
		}
		b.Logf("baseline, a kill after a stable run: %s", line("stable", base))
		for _, every := range []time.Duration{time.Second, 300 * time.Millisecond, 100 * time.Millisecond} {
			var lat []time.Duration
			next := time.Now()
			for range 30 {
				if wait := time.Until(next); wait > 0 {
					time.Sleep(wait)
				}
				next = time.Now().Add(every)
				lat = append(lat, kill())
			}
			b.Logf("a kill every %v (or once the successor publishes): %s", every, line(fmt.Sprint("every-", every), lat))
		}
		shell.Close()
		game.Kill(b)
		removeInstance(inst)
	}
}
