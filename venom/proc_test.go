package venom

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func init() {
	helpers["writer"] = helperWriter
	helpers["reader"] = helperReader
	helpers["echo-daemon"] = helperEchoDaemon
	helpers["requester"] = helperRequester
	helpers["flooder"] = helperFlooder
	helpers["crashy-daemon"] = helperCrashyDaemon
	helpers["request"] = helperRequest
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

// fillChecked fills p with bytes derived from seq and a CRC of them, so a
// reader can tell a whole snapshot from a torn one.
func fillChecked(p []byte, seq uint64) {
	binary.LittleEndian.PutUint64(p, seq)
	x := seq*0x9E3779B97F4A7C15 + 1
	for i := 12; i < len(p); i++ {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		p[i] = byte(x)
	}
	binary.LittleEndian.PutUint32(p[8:], crc32.ChecksumIEEE(p[12:]))
}

func checked(p []byte) bool {
	return len(p) >= 12 && binary.LittleEndian.Uint32(p[8:]) == crc32.ChecksumIEEE(p[12:])
}

// writer NAME: publishes checksummed snapshots of varying length as fast
// as it can until killed.
func helperWriter(args []string) error {
	d, err := Create(args[0], Config{DataSize: 64 << 10, History: 4})
	if err != nil {
		return err
	}
	p := make([]byte, 64<<10)
	for i := uint64(1); ; i++ {
		n := 12 + int(i*7919%uint64(len(p)-12))
		fillChecked(p[:n], i)
		if _, err := d.Publish(p[:n]); err != nil {
			return err
		}
		if i == 1 {
			fmt.Println("ready")
		}
		if i%64 == 0 {
			runtime.Gosched()
		}
	}
}

// reader NAME DISTINCT: reads and checks every snapshot until it has seen
// DISTINCT different ones, however long the writer takes to publish them
// (a deadline far beyond that only stops a writer that stalled).
func helperReader(args []string) error {
	s, err := Connect(args[0])
	if err != nil {
		return err
	}
	buf := make([]byte, 64<<10)
	reads, torn, distinct := 0, 0, 0
	var last uint64
	for deadline := time.Now().Add(2 * time.Minute); distinct < atoi(args[1]); {
		if time.Now().After(deadline) {
			return fmt.Errorf("saw %d distinct snapshots in %d reads, want %s", distinct, reads, args[1])
		}
		n, seq, err := s.Read(buf)
		if err != nil {
			return err
		}
		reads++
		if !checked(buf[:n]) || binary.LittleEndian.Uint64(buf) != seq {
			torn++
		}
		if seq != last {
			distinct++
			last = seq
		}
	}
	fmt.Printf("reads=%d torn=%d distinct=%d\n", reads, torn, distinct)
	return nil
}

// echo-daemon NAME [WAIT]: answers a request with "re:" + the command.
func helperEchoDaemon(args []string) error {
	cfg := Config{}
	if len(args) > 1 {
		cfg.Wait = WaitPolicy(atoi(args[1]))
	}
	d, err := Create(args[0], cfg)
	if err != nil {
		return err
	}
	fmt.Println("ready", os.Getpid())
	return d.Serve(context.Background(), func(_ ClientID, cmd, resp []byte) int {
		if resp == nil {
			return 0
		}
		return copy(resp, append([]byte("re:"), cmd...))
	})
}

// requester NAME ID COUNT: COUNT requests, each checked against its answer.
func helperRequester(args []string) error {
	s, err := Connect(args[0])
	if err != nil {
		return err
	}
	fmt.Println("connected")
	resp := make([]byte, 256)
	for i := 0; i < atoi(args[2]); i++ {
		msg := fmt.Sprintf("%s:%d", args[1], i)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		n, err := s.Request(ctx, []byte(msg), resp)
		cancel()
		if err != nil {
			return err
		}
		if got := string(resp[:n]); got != "re:"+msg {
			return fmt.Errorf("request %q answered %q", msg, got)
		}
	}
	fmt.Println("ok", atoi(args[2]))
	return nil
}

// flooder NAME ID COUNT [hold]: sends COUNT commands [ID u32, i u32];
// with "hold" it then keeps its slot until killed.
func helperFlooder(args []string) error {
	s, err := Connect(args[0])
	if err != nil {
		return err
	}
	fmt.Println("connected")
	id, count := atoi(args[1]), atoi(args[2])
	var cmd [8]byte
	binary.LittleEndian.PutUint32(cmd[:], uint32(id))
	for i := 0; i < count; i++ {
		binary.LittleEndian.PutUint32(cmd[4:], uint32(i))
		for deadline := time.Now().Add(20 * time.Second); ; {
			err := s.Send(cmd[:])
			if err == nil {
				break
			}
			if !errors.Is(err, ErrQueueFull) || time.Now().After(deadline) {
				return err
			}
			time.Sleep(20 * time.Microsecond)
		}
	}
	fmt.Println("done")
	for len(args) > 3 && args[3] == "hold" {
		time.Sleep(time.Hour) // keeps the slot until killed
	}
	return nil
}

// crashy-daemon NAME: a CommitOnPublish daemon that prints every command
// it is handed ("got X") and publishes only on the command "publish". The
// command "hold" it never answers unless it adopted the segment: a
// request that stays in flight until the test kills this daemon.
func helperCrashyDaemon(args []string) error {
	d, err := Create(args[0], Config{CommitOnPublish: true, DataSize: 1024})
	if err != nil {
		return err
	}
	fmt.Printf("ready epoch=%d adopted=%v\n", d.Epoch(), d.Adopted())
	var seen []string
	publish := false
	h := func(_ ClientID, cmd, resp []byte) int {
		c := string(cmd)
		fmt.Println("got", c)
		seen = append(seen, c)
		if c == "publish" {
			publish = true
		}
		if c == "hold" && !d.Adopted() {
			for {
				time.Sleep(time.Hour) // holds the request until killed
			}
		}
		return copy(resp, "re:"+c)
	}
	if !d.Adopted() {
		d.Publish([]byte("snap-0"))
	}
	for {
		d.Wait(context.Background(), 50*time.Millisecond)
		d.Poll(h)
		if publish {
			publish = false
			d.Publish([]byte("snap:" + strings.Join(seen, ",")))
			fmt.Println("published")
		}
	}
}

// request NAME CMD: connects, says which slot it holds, sends one request
// and prints how it ended. Its daemon timeout is an hour: it notices a
// dead daemon by its pid alone, never by the heartbeat's age, so how long
// a test takes between steps does not change what it sees.
func helperRequest(args []string) error {
	s, err := Connect(args[0], WithDaemonTimeout(time.Hour))
	if err != nil {
		return err
	}
	defer s.Close()
	fmt.Printf("connected id=%d\n", s.ID())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	resp := make([]byte, 256)
	n, err := s.Request(ctx, []byte(args[1]), resp)
	fmt.Printf("result restarted=%v gone=%v answer=%q err=%v\n",
		errors.Is(err, ErrDaemonRestarted), errors.Is(err, ErrDaemonGone), resp[:min(max(n, 0), len(resp))], err)
	return nil
}

// watch maps the segment of name into this process, to look at the
// words of a daemon or client in another process (its sleeping flags,
// request and response sequence numbers). It is unmapped when the test ends.
func watch(t testing.TB, name string) *segment {
	t.Helper()
	g, _, err := openSegment(name, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.unmap() })
	return g
}

func TestNoTornReads(t *testing.T) {
	name := chanName(t)
	w := startProc(t, "writer", name)
	w.Expect(t, "ready", 10*time.Second)
	// Each reader overlaps a thousand publishes, however slowly they come.
	readers := []*proc{startProc(t, "reader", name, "1000"), startProc(t, "reader", name, "1000")}
	for _, r := range readers {
		m := r.Expect(t, `reads=(\d+) torn=(\d+) distinct=(\d+)`, 3*time.Minute)
		if m[2] != "0" || atoi(m[3]) < 1000 {
			t.Fatalf("reader: reads=%s torn=%s distinct=%s", m[1], m[2], m[3])
		}
		t.Logf("reads=%s torn=%s distinct snapshots=%s", m[1], m[2], m[3])
		r.Wait(t, 10*time.Second)
	}
}

func TestRequestsFromSeveralProcesses(t *testing.T) {
	name := chanName(t)
	startProc(t, "echo-daemon", name).Expect(t, "ready", 10*time.Second)
	var clients []*proc
	for i := 0; i < 3; i++ {
		clients = append(clients, startProc(t, "requester", name, fmt.Sprint("c", i), "2000"))
	}
	for _, c := range clients {
		c.Expect(t, `^ok 2000$`, 60*time.Second)
		c.Wait(t, 10*time.Second)
	}
}

// counter checks per-sender FIFO order of [id u32, i u32] commands.
type counter struct {
	mu    sync.Mutex
	next  map[uint32]uint32
	total int
	bad   []string
}

func (c *counter) handle(_ ClientID, cmd, _ []byte) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(cmd) != 8 {
		c.bad = append(c.bad, fmt.Sprintf("command of %d bytes", len(cmd)))
		return 0
	}
	id, i := binary.LittleEndian.Uint32(cmd), binary.LittleEndian.Uint32(cmd[4:])
	if i != c.next[id] {
		c.bad = append(c.bad, fmt.Sprintf("sender %d: got %d, want %d", id, i, c.next[id]))
	}
	c.next[id] = i + 1
	c.total++
	return 0
}

func (c *counter) get(id uint32) (uint32, int, []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.next[id], c.total, append([]string(nil), c.bad...)
}

func serve(t *testing.T, d *Daemon, h Handler) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); d.Serve(ctx, h) }()
	t.Cleanup(func() { cancel(); <-done; d.Close() })
}

func TestFIFONoLossNoDuplicate(t *testing.T) {
	name := chanName(t)
	d, err := Create(name, Config{CmdSize: 16, CmdSlots: 256})
	if err != nil {
		t.Fatal(err)
	}
	c := &counter{next: map[uint32]uint32{}}
	serve(t, d, c.handle)
	const senders, each = 4, 25000
	var ps []*proc
	for i := 0; i < senders; i++ {
		ps = append(ps, startProc(t, "flooder", name, fmt.Sprint(i), fmt.Sprint(each)))
	}
	for _, p := range ps {
		p.Wait(t, 120*time.Second)
	}
	eventually(t, 30*time.Second, "every command served", func() bool { _, n, _ := c.get(0); return n >= senders*each })
	for i := uint32(0); i < senders; i++ {
		next, total, bad := c.get(i)
		if next != each || total != senders*each || len(bad) > 0 {
			t.Fatalf("sender %d: next %d, total %d, errors %v", i, next, total, bad[:min(len(bad), 5)])
		}
	}
}

func TestClientKilledMidFlood(t *testing.T) {
	name := chanName(t)
	d, err := Create(name, Config{CmdSize: 16, CmdSlots: 64, MaxClients: 2})
	if err != nil {
		t.Fatal(err)
	}
	c := &counter{next: map[uint32]uint32{}}
	serve(t, d, c.handle)
	victim := startProc(t, "flooder", name, "0", "100000000")
	victim.Expect(t, "connected", 10*time.Second)
	// The other keeps its slot to the end, however long the test takes:
	// the reclaim check below relies on it.
	other := startProc(t, "flooder", name, "1", "50000", "hold")
	other.Expect(t, "connected", 10*time.Second)
	eventually(t, 10*time.Second, "victim's commands flowing", func() bool { n, _, _ := c.get(0); return n > 1000 })
	victim.Kill(t)
	other.Expect(t, "done", 60*time.Second)
	eventually(t, 10*time.Second, "the other client fully served", func() bool { n, _, _ := c.get(1); return n == 50000 })
	if _, _, bad := c.get(0); len(bad) > 0 {
		t.Fatalf("order broken: %v", bad[:min(len(bad), 5)])
	}
	// The victim's slot comes back: with MaxClients 2 and the other still
	// connected, a new client fits only in it.
	eventually(t, 10*time.Second, "victim's slot reclaimed", func() bool {
		s, err := Connect(name)
		if err != nil {
			return false
		}
		s.Close()
		return true
	})
}

func TestDaemonKilled(t *testing.T) {
	name := chanName(t)
	d1 := startProc(t, "crashy-daemon", name)
	d1.Expect(t, `ready epoch=1 adopted=false`, 10*time.Second)
	// The successor must be handed the request "x" sent after the kill,
	// but a Request is queued only while the heartbeat looks fresh: with
	// a timeout of an hour that holds however long the kill and the reap
	// take, and the death is noticed by the owner's pid instead.
	s, err := Connect(name, WithDaemonTimeout(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, c := range []string{"a", "b", "publish"} {
		if err := s.Send([]byte(c)); err != nil {
			t.Fatal(err)
		}
	}
	d1.Expect(t, "published", 10*time.Second)
	s.Send([]byte("c"))
	s.Send([]byte("d"))
	d1.Expect(t, "got d", 10*time.Second)
	d1.Kill(t)

	buf := make([]byte, 1024)
	n, _, err := s.Read(buf)
	if err != nil || string(buf[:n]) != "snap:a,b,publish" {
		t.Fatalf("Read after the daemon died: %q %v", buf[:n], err)
	}
	// Not hanging is the point; how soon it gives up is not asserted (the
	// context's generous deadline bounds the wait, and ends it with
	// another error than ErrDaemonGone).
	start := time.Now()
	_, err = s.Request(ctxFor(t, 30*time.Second), []byte("x"), buf)
	if !errors.Is(err, ErrDaemonGone) {
		t.Fatalf("Request to a dead daemon: %v, want ErrDaemonGone", err)
	}
	t.Logf("ErrDaemonGone after %v", time.Since(start))
	s.Send([]byte("e"))
	s.Send([]byte("f"))

	d2 := startProc(t, "crashy-daemon", name)
	d2.Expect(t, `ready epoch=2 adopted=true`, 10*time.Second)
	// c and d were handed out but never published: handed over again,
	// in order, then the failed request and what was sent meanwhile.
	for _, want := range []string{"c", "d", "x", "e", "f"} {
		if m := d2.Expect(t, `^got (.*)$`, 10*time.Second); m[1] != want {
			t.Fatalf("successor got %q, want %q", m[1], want)
		}
	}
	// The client carries on without reconnecting.
	n, err = s.Request(ctxFor(t, 10*time.Second), []byte("y"), buf)
	if err != nil || string(buf[:n]) != "re:y" {
		t.Fatalf("Request to the successor: %q %v", buf[:n], err)
	}
	if n, _, err := s.Read(buf); err != nil || !bytes.HasPrefix(buf[:n], []byte("snap:a,b,publish")) {
		t.Fatalf("Read from the successor: %q %v", buf[:n], err)
	}
}

// TestRequestInFlightWhenDaemonRestarts: a request in flight when its
// daemon dies and answered by the successor ends with ErrDaemonRestarted,
// not with the answer. The client is a helper process, stopped (SIGSTOP)
// while it sleeps on its response word, so it cannot notice the death
// before the successor has adopted the segment and answered: when it
// resumes it finds an answer to its request id in its buffer, and only
// the epoch check on that answer tells it that it is not the first
// daemon's.
func TestRequestInFlightWhenDaemonRestarts(t *testing.T) {
	name := chanName(t)
	d1 := startProc(t, "crashy-daemon", name)
	d1.Expect(t, `^ready epoch=1 adopted=false$`, 10*time.Second)
	c := startProc(t, "request", name, "hold")
	id := atoi(c.Expect(t, `^connected id=(\d+)$`, 10*time.Second)[1])
	d1.Expect(t, `^got hold$`, 10*time.Second) // handed out, never answered
	g := watch(t, name)
	co := g.l.client(uint64(id))
	stopAsleep(t, c, g.u32(co+cSleeping))
	d1.Kill(t)
	d2 := startProc(t, "crashy-daemon", name)
	d2.Expect(t, `^ready epoch=2 adopted=true$`, 10*time.Second)
	// Never committed, the request is handed to the successor again,
	// which answers it.
	d2.Expect(t, `^got hold$`, 10*time.Second)
	eventually(t, 10*time.Second, "the successor's answer in the client's buffer", func() bool {
		q := g.u64(co + cReqSeq).Load()
		return q != 0 && g.u64(co+cRespSeq).Load() == q
	})
	if err := c.Cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	m := c.Expect(t, `^result restarted=(\w+) gone=\w+ answer=(.*) err=(.*)$`, 30*time.Second)
	if m[1] != "true" {
		t.Fatalf("in-flight Request answered %s, error %s; want ErrDaemonRestarted", m[2], m[3])
	}
	c.Wait(t, 10*time.Second)
}

// stopAsleep stops p (SIGSTOP) at a moment its sleeping flag is up: it
// is then past its last check of the daemon and inside the wait, whose
// next step once resumed is to look at what it waits for. A stop that
// lands elsewhere is undone and tried again.
func stopAsleep(t *testing.T, p *proc, sleeping *atomic.Uint32) {
	t.Helper()
	pid := p.Pid()
	eventually(t, 30*time.Second, fmt.Sprintf("pid %d stopped asleep", pid), func() bool {
		if sleeping.Load() != 1 {
			return false
		}
		if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, fmt.Sprintf("every thread of pid %d stopped", pid), func() bool {
			return threadsIn(pid, "T")
		})
		if sleeping.Load() == 1 {
			return true
		}
		if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
		return false
	})
}

// threadsIn reports whether every thread of pid is in one of states
// (the state letters of /proc/PID/task/TID/stat).
func threadsIn(pid int, states string) bool {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil || len(tasks) == 0 {
		return false
	}
	for _, task := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/stat", pid, task.Name()))
		i := bytes.LastIndexByte(b, ')')
		if err != nil || i < 0 || i+2 >= len(b) || !strings.ContainsRune(states, rune(b[i+2])) {
			return false
		}
	}
	return true
}

// cpuTicks is a process's user+system CPU time in clock ticks.
func cpuTicks(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	return atoi(f[11]) + atoi(f[12])
}

// Idleness is a condition to wait for, never a CPU budget over a fixed
// window: a process is idle once, at idleSamples samples in a row spanning
// at least idleSpan, asleep() holds, every thread of it is asleep (state
// S) and its CPU time has not grown by a single clock tick. A spinning
// thread is runnable at every sample, so a process with one never gets
// there, however lucky its ticks; a process that sleeps in FUTEX_WAIT
// between brief wake-ups soon does. (A client waiting in Request wakes
// every 20ms to check that its daemon lives, about 1% of a core here, 2-3%
// under -race: it gets there too, after a few tries.)
const (
	idleSamples  = 10
	idleSpan     = 500 * time.Millisecond
	idleDeadline = time.Minute
)

// eventuallyIdle waits for pid to be idle (see idleSamples).
func eventuallyIdle(t *testing.T, what string, pid int, asleep func() bool) {
	t.Helper()
	var (
		n     int       // samples in the current run
		ticks int       // CPU ticks at its start
		since time.Time // its start
		why   string    // what broke the last run
	)
	for deadline := time.Now().Add(idleDeadline); ; {
		now, cpu := time.Now(), cpuTicks(t, pid)
		switch {
		case !asleep():
			n, why = 0, "its sleeping flag was down"
		case !threadsIn(pid, "S"):
			n, why = 0, "a thread was not asleep"
		case n > 0 && cpu != ticks:
			n, why = 0, fmt.Sprintf("it used %d clock ticks of CPU", cpu-ticks)
		case n == 0:
			n, ticks, since = 1, cpu, now
		default:
			n++
		}
		if n >= idleSamples && now.Sub(since) >= idleSpan {
			t.Logf("%s: no CPU tick over %d samples in %v", what, n, now.Sub(since).Round(time.Millisecond))
			return
		}
		if now.After(deadline) {
			t.Fatalf("%s: never idle for %v within %v; last: %s", what, idleSpan, idleDeadline, why)
		}
		time.Sleep(idleSpan / idleSamples) // sampling period of the condition
	}
}

func TestIdleCostsNoCPU(t *testing.T) {
	name := chanName(t)
	dp := startProc(t, "echo-daemon", name)
	pid := atoi(dp.Expect(t, `ready (\d+)`, 10*time.Second)[1])
	startProc(t, "requester", name, "warm", "100").Wait(t, 30*time.Second)
	g := watch(t, name)
	eventuallyIdle(t, "daemon idle in Serve", pid, func() bool { return g.u32(hSleeping).Load() == 1 })

	// A client blocked in Request, on a channel whose daemon is this
	// process: it answers only once the client has been seen idle.
	name2 := name + ".c"
	Remove(name2)
	t.Cleanup(func() { Remove(name2) })
	d, err := Create(name2, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	c := startProc(t, "request", name2, "ping")
	co := d.seg.l.client(uint64(atoi(c.Expect(t, `^connected id=(\d+)$`, 10*time.Second)[1])))
	eventuallyIdle(t, "client blocked in Request", c.Pid(), func() bool { return d.seg.u32(co+cSleeping).Load() == 1 })
	eventually(t, 10*time.Second, "the request served", func() bool {
		return d.Poll(func(_ ClientID, cmd, resp []byte) int { return copy(resp, append([]byte("re:"), cmd...)) }) > 0
	})
	if m := c.Expect(t, `^result .* answer=(.*) err=(.*)$`, 30*time.Second); m[1] != `"re:ping"` || m[2] != "<nil>" {
		t.Fatalf("Request after the wait: answer %s, error %s", m[1], m[2])
	}
	c.Wait(t, 10*time.Second)
}
