package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/engine/supervisor"
	"github.com/venomrt/venomrt/internal/proctest"
	"github.com/venomrt/venomrt/venom"
)

var (
	restartKills = flag.Int("restart-kills", 100, "BenchmarkRestartLatency: SIGKILLs of physics served by its hot standby")
	plainKills   = flag.Int("restart-plain-kills", 20, "BenchmarkRestartLatency: SIGKILLs of physics restarted without a standby (run --standby=false)")
	restartHangs = flag.Int("restart-hangs", 10, "BenchmarkRestartLatency: hangs of physics of each kind (SIGSTOP, OpHang) served by its hot standby")
	restartRegs  = flag.Int("restart-regions", 1, "BenchmarkRestartLatency: physics's regions (run --regions N); with more than one the faults go to the member physics-0")
)

// faulted is the physics child BenchmarkRestartLatency faults: physics,
// or the first member of its group with -restart-regions.
func faulted() string {
	if *restartRegs > 1 {
		return "physics-0"
	}
	return "physics"
}

// BenchmarkRestartLatency times a fault of physics → the first publish of
// its successor (the first snapshot of a new epoch) under a running game.
// SIGKILL twice in the same run: physics kept with a hot standby (the
// default; -restart-kills times) and restarted plainly, a new process
// after the backoff (run --standby=false; -restart-plain-kills times);
// then, with the standby, hangs (-restart-hangs of each): SIGSTOP
// (SIGKILLed at once once found) and OpHang (its loop stops; SIGQUIT
// ends it), timed from the SIGSTOP or from sending the op, whose tick
// comes up to one tick later. Every fault comes after a stable run (up
// more than StableAfter + 200 ms), with a standby ready. Baseline from
// the same run: starting this binary and waiting for it to exit (fork,
// exec and Go runtime start, the floor of any restart without a
// standby). It also reports the memory a standby holds beside its
// primary's (/proc/PID/smaps_rollup).
func BenchmarkRestartLatency(b *testing.B) {
	var standby, plain, stops, hangs []time.Duration
	var mem []string
	for b.Loop() {
		plain = faultPhysics(b, false, []fault{{"kill", *plainKills}}, nil)[0]
		got := faultPhysics(b, true, []fault{{"kill", *restartKills}, {"stop", *restartHangs}, {"hang", *restartHangs}}, &mem)
		standby, stops, hangs = got[0], got[1], got[2]
	}
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
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	execP50 := ms(exec[len(exec)/2])
	// summary reports p50, p99 (over 100 samples or more: fewer would make
	// it the max) and max.
	summary := func(name string, lat []time.Duration) string {
		q := func(f float64) float64 { return ms(lat[int(f*float64(len(lat)-1))]) }
		b.ReportMetric(q(0.5), name+"-p50-ms")
		b.ReportMetric(q(1), name+"-max-ms")
		line := fmt.Sprintf("%d samples: p50 %.1f ms", len(lat), q(0.5))
		if len(lat) >= 100 {
			b.ReportMetric(q(0.99), name+"-p99-ms")
			line += fmt.Sprintf(", p99 %.1f ms", q(0.99))
		}
		return line + fmt.Sprintf(", max %.1f ms", q(1))
	}
	b.ReportMetric(execP50, "exec-p50-ms")
	b.Logf("SIGKILL → first publish, hot standby: %s", summary("standby", standby))
	b.Logf("SIGKILL → first publish, plain restart (--standby=false): %s", summary("plain", plain))
	b.Logf("SIGSTOP → first publish, hot standby (hang timeout %v): %s", supervisor.DefaultHangTimeout, summary("stop", stops))
	b.Logf("OpHang sent → first publish, hot standby (hang timeout %v): %s", supervisor.DefaultHangTimeout, summary("hang", hangs))
	b.Logf("baseline, exec of the binary: p50 %.1f ms", execP50)
	for _, m := range mem {
		b.Log(m)
	}
}

// fault is a kind of fault to physics and how many times to inject it.
type fault struct {
	kind string // kill, stop, hang
	n    int
}

// faultPhysics runs a game (physics with a standby or without) and
// injects each fault into physics its number of times, one after the
// other, each after a stable run; it returns, per fault, the times from
// each injection to the first snapshot of a new epoch, sorted. With a
// standby it checks that the standby took over each time; mem, when not
// nil, gets the memory of each child's primary and standby at the end.
func faultPhysics(b *testing.B, standby bool, faults []fault, mem *[]string) [][]time.Duration {
	b.Helper()
	args := []string{"--failure-threshold", "1000", "--duration", "30m", "--regions", strconv.Itoa(*restartRegs)}
	if !standby {
		args = append(args, "--standby=false")
	}
	game, inst := startGameB(b, args...)
	defer removeInstance(inst)
	defer game.Kill(b)
	ch := inst + "." + faulted()
	shell, epoch := physicsEpoch(b, inst)
	defer shell.Close()
	var all [][]time.Duration
	restarts := 0
	for _, f := range faults {
		var lat []time.Duration
		for range f.n {
			// Each after a stable run (the first too), with a standby ready.
			st := physicsStatus(b, inst, func(c supervisor.ChildStatus) bool {
				return c.State == supervisor.ChildRunning && c.Restarts == uint32(restarts) &&
					c.Uptime > int64(supervisor.StableAfter+200*time.Millisecond) && (!standby || c.StandbyReady())
			})
			info, err := venom.Inspect(ch)
			if err != nil || info.Daemon.Pid != int(st.Pid) {
				b.Fatalf("physics channel %+v (%v), status pid %d", info.Daemon, err, st.Pid)
			}
			old := epoch()
			start := time.Now()
			switch f.kind {
			case "kill":
				err = syscall.Kill(int(st.Pid), syscall.SIGKILL)
			case "stop":
				err = syscall.Kill(int(st.Pid), syscall.SIGSTOP)
			case "hang":
				var cmd [engine.CommandSize]byte
				err = shell.Send(engine.Cmd(engine.OpHang).Append(cmd[:0]))
			}
			if err != nil {
				b.Fatalf("%s: %v", f.kind, err)
			}
			for epoch() <= old {
				if time.Since(start) > 20*time.Second {
					b.Fatalf("physics did not come back after %s", f.kind)
				}
				time.Sleep(200 * time.Microsecond)
			}
			lat = append(lat, time.Since(start))
			restarts++
			if standby {
				if now, err := venom.Inspect(ch); err != nil || now.Daemon.Pid != int(st.StandbyPid) {
					b.Fatalf("%s %d: physics owned by pid %d after it (%v), not its standby %d", f.kind, len(lat), now.Daemon.Pid, err, st.StandbyPid)
				}
			}
		}
		slices.Sort(lat)
		all = append(all, lat)
	}
	if mem != nil {
		for _, name := range []string{faulted(), "ai", "net"} {
			want := map[string]int{faulted(): restarts}[name]
			st := standbyStatus(b, inst, name, "status", func(c supervisor.ChildStatus) bool {
				return c.State == supervisor.ChildRunning && c.Restarts == uint32(want) && c.StandbyReady()
			})
			*mem = append(*mem, fmt.Sprintf("memory of %s: primary %s; standby %s", name, rss(int(st.Pid)), rss(int(st.StandbyPid))))
		}
	}
	return all
}

// physicsEpoch waits until the faulted physics child publishes and
// returns a shell on its channel and a read of its newest snapshot's
// epoch (0 when unreadable): a successor's first snapshot is the first of
// a new epoch.
func physicsEpoch(b *testing.B, inst string) (*venom.Shell, func() uint64) {
	b.Helper()
	ch := inst + "." + faulted()
	var shell *venom.Shell
	proctest.Eventually(b, 20*time.Second, "physics up", func() bool {
		var err error
		if shell == nil {
			if shell, err = venom.Connect(ch); err != nil {
				shell = nil
				return false
			}
		}
		info, err := venom.Inspect(ch)
		return err == nil && info.Owned && info.Daemon.Latest > 5
	})
	buf := make([]byte, shell.Config().DataSize)
	return shell, func() uint64 {
		n, _, err := shell.Read(buf)
		if err != nil {
			return 0
		}
		h, err := engine.PeekHeader(buf[:n])
		if err != nil {
			return 0
		}
		return h.Epoch
	}
}

// physicsStatus waits until the faulted physics child's status satisfies cond.
func physicsStatus(b *testing.B, inst string, cond func(supervisor.ChildStatus) bool) supervisor.ChildStatus {
	b.Helper()
	return standbyStatus(b, inst, faulted(), "status", cond)
}

// rss is a process's memory as /proc/PID/smaps_rollup gives it: its
// resident set, of which anonymous (its own heap and stacks) and file
// (the binary's pages, shared with every process of the binary), and its
// proportional share (PSS: shared pages divided among their sharers).
func rss(pid int) string {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/smaps_rollup")
	if err != nil {
		return "?"
	}
	defer f.Close()
	v := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, val, ok := strings.Cut(sc.Text(), ":"); ok {
			v[k] = strings.TrimSpace(val)
		}
	}
	return fmt.Sprintf("RSS %s (anon %s), PSS %s (anon %s, file %s, shmem %s)", v["Rss"], v["Anonymous"],
		v["Pss"], v["Pss_Anon"], v["Pss_File"], v["Pss_Shmem"])
}

func execSelf(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
	return cmd
}
