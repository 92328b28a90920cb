package netproc

import (
	"context"
	b64 "encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/coder/websocket"
	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/internal/proctest"
	"github.com/venomrt/venomrt/procs/physics"
	"github.com/venomrt/venomrt/venom"
	"golang.org/x/sys/unix"
)

// The browser client, tested in headless Chromium (Debian's chromium,
// which scripts/deps.sh installs) driven through chromedp.

// chromiumPath finds the browser: $VENOMRT_CHROMIUM, Debian's binary
// itself (not its wrapper script, which warns), or one on PATH.
func chromiumPath() string {
	if p := os.Getenv("VENOMRT_CHROMIUM"); p != "" {
		return p
	}
	for _, p := range []string{"/usr/lib/chromium/chromium", "/usr/lib/chromium-browser/chromium-browser"} {
		if st, err := os.Stat(p); err == nil && st.Mode()&0o111 != 0 {
			return p
		}
	}
	for _, n := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	return ""
}

// browser starts headless Chromium for the test and returns its tab's
// context (no deadline: it bounds the browser's life; steps take their
// own).
func browser(t testing.TB) context.Context {
	t.Helper()
	path := chromiumPath()
	if path == "" {
		t.Skip("no chromium: scripts/deps.sh (make deps) installs it")
	}
	// No sandbox: the browser loads only the test's own pages, and
	// containers (CI) often lack what Chromium's sandbox needs.
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.WindowSize(1280, 720),
		chromedp.NoSandbox, chromedp.Flag("disable-gpu", true), chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("mute-audio", true))
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithLogf(func(string, ...any) {}))
	t.Cleanup(func() {
		cancel()
		acancel()
	})
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 720)); err != nil {
		t.Fatalf("start chromium %s: %v", path, err)
	}
	return ctx
}

// step runs one browser step with a deadline of its own.
func step(t testing.TB, ctx context.Context, d time.Duration, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	if err := chromedp.Do(sctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](t testing.TB, ctx context.Context, js string) T {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(sctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// waitJS polls a JavaScript predicate until it holds.
func waitJS(t testing.TB, ctx context.Context, d time.Duration, what, js string) {
	t.Helper()
	step(t, ctx, d+time.Second, "waiting for "+what+" ("+js+")",
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Poll[chromedp.Void](js, chromedp.WithPollingInterval(50*time.Millisecond),
				chromedp.WithPollingTimeout(d))(ctx, tg)
			return err
		}))
}

// litPixels counts the canvas's pixels that are neither background
// colour: what the page drew.
const litPixels = `(() => {
  const c = document.getElementById('c');
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 0; i < d.length; i += 4) {
    const r = d[i], g = d[i+1], b = d[i+2];
    if (Math.abs(r - 20) + Math.abs(g - 24) + Math.abs(b - 33) > 60 && Math.abs(r - 14) + Math.abs(g - 16) + Math.abs(b - 22) > 60) n++;
  }
  return n;
})()`

// physicsBodies reads the number of bodies in physics' slice.
func physicsBodies(t testing.TB, name string) int {
	t.Helper()
	c, err := engine.Connect(name+".physics", physics.Schema)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var f engine.Frame[physics.Meta, physics.Body]
	if err := c.Read(&f); err != nil {
		t.Fatal(err)
	}
	return len(f.Items)
}

// TestBrowserPlays: the page served at GET / joins, draws the world (the
// canvas shows bodies), shows another player's cursor, a click spawns
// bodies that physics' slice has, a right-click explodes, and when net is
// killed and started again the page reconnects by itself. With
// VENOMRT_BROWSER_SCREENSHOT=FILE it writes a screenshot of the page (the
// README's).
func TestBrowserPlays(t *testing.T) {
	ctx := browser(t)
	shot := os.Getenv("VENOMRT_BROWSER_SCREENSHOT")
	bodies, agents := "300", "40"
	if shot != "" {
		bodies, agents = "2000", "200"
	}
	g := &game{name: proctest.Name(t)}
	t.Cleanup(func() {
		for _, ch := range []string{"physics", "ai", "net"} {
			venom.Remove(g.name + "." + ch)
		}
	})
	proctest.Start(t, "physics", g.name+".physics", bodies).Expect(t, `^pid`, 10*time.Second)
	proctest.Start(t, "ai", g.name+".ai", g.name+".physics", agents).Expect(t, `^pid`, 10*time.Second)
	g.startNet(t, "127.0.0.1:0")
	addr := strings.TrimPrefix(g.url, "ws://")
	page := "http://" + addr + "/?name=tester"

	step(t, ctx, 20*time.Second, "load "+page, chromedp.Navigate(page))
	waitJS(t, ctx, 20*time.Second, "the page to join and draw",
		`window.venom && window.venom.state === 'connected' && window.venom.snapshots > 3 && window.venom.drawn > 3 && window.venom.agents > 0`)
	if u := eval[string](t, ctx, `window.venom.url`); u != "ws://"+addr+"/ws?v=3&name=tester" {
		t.Fatalf("the page connects to %q, want its own host %s", u, addr)
	}
	if n := eval[int](t, ctx, litPixels); n < 500 {
		t.Fatalf("the canvas shows %d lit pixels, want the bodies (≥ 500)", n)
	}

	// Another player's cursor reaches the page.
	other := dial(t, proctest.Context(t, 30*time.Second), g.url, "other")
	if err := other.Input(Input{Cursor: [2]float32{200, 150}, HasCursor: true}); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, 10*time.Second, "the other player's cursor",
		`window.venom.players.some(p => p.name === 'other' && p.x === 200 && p.y === 150)`)

	// A click spawns bodies: physics has them, and so does the page.
	n0 := physicsBodies(t, g.name)
	cx, cy := 640.0, 200.0
	step(t, ctx, 10*time.Second, "click", chromedp.MouseEvent(chromedp.MouseMoved, cx, cy), chromedp.MouseClickXY(cx, cy))
	proctest.Eventually(t, 20*time.Second, "the spawned bodies in physics' slice", func() bool {
		return physicsBodies(t, g.name) >= n0+SpawnCount
	})
	waitJS(t, ctx, 10*time.Second, "the spawned bodies on the page", fmt.Sprintf(`window.venom.bodies >= %d`, n0+SpawnCount))

	// A right-click is an explosion: net forwards one more command.
	nc, err := engine.Connect(g.name+".net", Schema)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var f engine.Frame[Meta, Player]
	forwarded := func() uint64 {
		if nc.Read(&f) != nil {
			return 0
		}
		return f.Meta.Forwarded
	}
	proctest.Eventually(t, 10*time.Second, "the spawn forwarded", func() bool { return forwarded() >= 1 })
	fw := forwarded()
	step(t, ctx, 10*time.Second, "right-click", chromedp.MouseClickXY(cx, cy+100, chromedp.ButtonType(input.MouseButtonRight)))
	proctest.Eventually(t, 10*time.Second, "the explosion forwarded", func() bool { return forwarded() == fw+1 })
	if f.Meta.Kicked != 0 {
		t.Fatalf("net kicked %d connections", f.Meta.Kicked)
	}

	if shot != "" {
		waitJS(t, ctx, 10*time.Second, "a settled frame", `window.venom.drawn > 120`)
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		png, err := chromedp.Run(sctx, chromedp.CaptureScreenshot())
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(shot, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s (%d bytes)", shot, len(png))
	}

	// net dies and comes back on the same port: the page reconnects.
	snaps := eval[int](t, ctx, `window.venom.snapshots`)
	g.net.Kill(t)
	waitJS(t, ctx, 10*time.Second, "the page to notice", `window.venom.state !== 'connected'`)
	g.startNet(t, addr)
	waitJS(t, ctx, 30*time.Second, "the page to reconnect",
		fmt.Sprintf(`window.venom.state === 'connected' && window.venom.reconnects >= 1 && window.venom.snapshots > %d`, snaps+3))
	if n := eval[int](t, ctx, litPixels); n < 500 {
		t.Fatalf("after the reconnection the canvas shows %d lit pixels", n)
	}
	if s := eval[string](t, ctx, `window.venom.lastClose`); strings.HasPrefix(s, "1008") {
		t.Fatalf("the page was refused: %s", s)
	}
}

// TestBrowserOtherOrigin: a page from another origin cannot open the
// game's WebSocket (a site a user visits must not play in their local
// game). The same refusal without a browser, which runs everywhere, is
// TestOtherOriginRefused.
func TestBrowserOtherOrigin(t *testing.T) {
	ctx := browser(t)
	g := startGame(t, -1) // net alone
	addr := strings.TrimPrefix(g.url, "ws://")

	ln, err := net.Listen("tcp", "127.0.0.1:0") // another port: another origin
	if err != nil {
		t.Fatal(err)
	}
	evil := `<!doctype html><script>
window.result = '';
const ws = new WebSocket('ws://` + addr + `/ws?v=3&name=evil');
ws.onopen = () => { window.result = 'open'; };
ws.onclose = (e) => { window.result = window.result || ('closed ' + e.code); };
</script>`
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, evil)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	step(t, ctx, 20*time.Second, "load the other site's page", chromedp.Navigate("http://"+ln.Addr().String()+"/"))
	waitJS(t, ctx, 10*time.Second, "the WebSocket's fate", `window.result !== ''`)
	if r := eval[string](t, ctx, `window.result`); r != "closed 1006" {
		t.Fatalf("a page of another origin: %q, want the handshake refused (closed 1006)", r)
	}
	nobodyJoined(t, g.name)
}

// TestOtherOriginRefused: a handshake whose Origin names another host
// than the one it was sent to is refused with 403 and nobody joins,
// while one with the game's own origin joins. Plain Go, no browser: it
// runs everywhere (TestBrowserOtherOrigin is the same seen from a page).
func TestOtherOriginRefused(t *testing.T) {
	g := startGame(t, -1) // net alone
	u, _ := JoinURL(g.url, "evil")
	for _, origin := range []string{"http://evil.example", "http://127.0.0.1:1", "null"} {
		ctx := proctest.Context(t, 10*time.Second)
		_, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {origin}}})
		if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Fatalf("Origin %s: %v (response %v), want 403", origin, err, resp)
		}
	}
	nobodyJoined(t, g.name)
	// The game's own origin, as its page sends it, is no other origin.
	ctx := proctest.Context(t, 10*time.Second)
	ws, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {"http://" + strings.TrimPrefix(g.url, "ws://")}}})
	if err != nil {
		t.Fatalf("the game's own Origin: %v (response %v), want a join", err, resp)
	}
	ws.CloseNow()
}

// nobodyJoined fails t unless net's counters say no player ever joined.
func nobodyJoined(t *testing.T, game string) {
	t.Helper()
	nc, err := engine.Connect(game+".net", Schema)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var f engine.Frame[Meta, Player]
	if err := nc.Read(&f); err != nil || f.Meta.Joined != 0 {
		t.Fatalf("net's counters %+v (%v): nobody may have joined", f.Meta, err)
	}
}

// TestPageServed: GET / and the script are served with their types and
// a policy that keeps the page to its own host; other paths are 404 and
// other methods 405.
func TestPageServed(t *testing.T) {
	g := startGame(t, -1)
	base := "http://" + strings.TrimPrefix(g.url, "ws://")
	for _, tc := range []struct {
		method, path string
		status       int
		ctype        string
	}{
		{"GET", "/", 200, "text/html; charset=utf-8"},
		{"GET", "/client.js", 200, "text/javascript; charset=utf-8"},
		{"HEAD", "/", 200, "text/html; charset=utf-8"},
		{"GET", "/nothing", 404, ""},
		{"GET", "/ws", 426, ""},
		{"POST", "/", 405, ""},
	} {
		req, _ := http.NewRequest(tc.method, base+tc.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status || (tc.ctype != "" && resp.Header.Get("Content-Type") != tc.ctype) {
			t.Errorf("%s %s: %d %q, want %d %q", tc.method, tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), tc.status, tc.ctype)
		}
		if tc.status == 200 && !strings.Contains(resp.Header.Get("Content-Security-Policy"), "connect-src 'self'") {
			t.Errorf("%s %s: no connect-src 'self' policy", tc.method, tc.path)
		}
	}
}

// digest is a decoded snapshot as text, for comparing the decoders: every
// item and player and child, in wire units (ticks and floats left out:
// JavaScript holds integers exactly only to 2^53).
func digest(s Snapshot) string {
	var b strings.Builder
	for _, x := range s.Bodies {
		fmt.Fprintf(&b, "%d,%d,%d,%d,%d,%d,%d;", x.ID, x.Flags, x.X, x.Y, x.VX, x.VY, x.R)
	}
	b.WriteString("|")
	for _, x := range s.Agents {
		fmt.Fprintf(&b, "%d,%d,%d,%d,%d,%d;", x.ID, x.Kind, x.X, x.Y, x.VX, x.VY)
	}
	b.WriteString("|")
	for _, p := range s.Players {
		fmt.Fprintf(&b, "%d,%s,%d,%d,%d,%d;", p.ID, p.Name, p.Color, int64(p.Cursor[0]*Subpixel), int64(p.Cursor[1]*Subpixel), p.RTTNano/1000)
	}
	b.WriteString("|")
	for _, c := range s.Children {
		age := int64(-1)
		if c.Age >= 0 {
			age = c.Age / 1000
		}
		fmt.Fprintf(&b, "%s,%s,%d,%d,%d,%s;", c.Name, c.State, c.Pid, c.Restarts, age, c.Reason)
	}
	return b.String()
}

const jsDigest = `(msgs) => {
  const bin = (s) => Uint8Array.from(atob(s), c => c.charCodeAt(0)).buffer;
  let bases = new Map();
  const out = [];
  for (const m of msgs) {
    let s;
    try {
      s = window.venomDecode(bin(m), bases);
    } catch (e) {
      out.push('error: ' + e.message);
      continue;
    }
    if (s.welcome) bases = new Map();
    bases.set(s.seq, s);
    let d = '';
    const t = s.bodies;
    for (let i = 0; i < t.n; i++) d += [t.id[i], t.attr[i], t.x[i], t.y[i], t.vx[i], t.vy[i], t.r[i]].join(',') + ';';
    d += '|';
    const a = s.agents;
    for (let i = 0; i < a.n; i++) d += [a.id[i], a.attr[i], a.x[i], a.y[i], a.vx[i], a.vy[i]].join(',') + ';';
    d += '|';
    for (const p of s.players) d += [p.id, p.name, p.color, p.cx, p.cy, p.rtt].join(',') + ';';
    d += '|';
    for (const c of s.children) d += [c.name, c.state, c.pid, c.restarts, c.age, c.reason].join(',') + ';';
    out.push(d);
  }
  return out;
}`

// TestBrowserDecoderAgrees: the browser client's decoder (web/client.js,
// in Chromium) decodes chains of random worlds — values across the whole
// range, escapes of up to 40 bits, ids up to 2^32−1, players coming and
// going — to exactly what the Go client decodes; and refuses every
// truncation of a message, as the Go decoder does.
func TestBrowserDecoderAgrees(t *testing.T) {
	ctx := browser(t)
	g := startGame(t, -1)
	step(t, ctx, 20*time.Second, "load the page", chromedp.Navigate("http://"+strings.TrimPrefix(g.url, "ws://")+"/?name=decoder"))
	waitJS(t, ctx, 10*time.Second, "the decoder", `typeof window.venomDecode === 'function'`)
	r := rand.New(rand.NewPCG(7, 8))
	var msgs, want []string
	for range 12 {
		cur := randSnapshot(r, nil)
		full, err := AppendSnapshot(nil, 1, 0, nil, &cur)
		if err != nil {
			t.Fatal(err)
		}
		m := welcomeFrom(full, 9)
		_, got := decode(t, m, nil)
		msgs, want = append(msgs, base64(m)), append(want, digest(got))
		for seq := uint64(2); seq < 10; seq++ {
			next := randSnapshot(r, &cur)
			m, err := AppendSnapshot(nil, seq, seq-1, &cur, &next)
			if err != nil {
				t.Fatal(err)
			}
			_, dec := decode(t, m, &got)
			msgs, want = append(msgs, base64(m)), append(want, digest(dec))
			cur, got = next, dec
		}
	}
	args, _ := json.Marshal(msgs)
	out := eval[[]string](t, ctx, "("+jsDigest+")("+string(args)+")")
	if len(out) != len(want) {
		t.Fatalf("%d digests from JavaScript, want %d", len(out), len(want))
	}
	for i := range want {
		if out[i] != want[i] {
			t.Fatalf("message %d: JavaScript decoded\n%.400s\nGo decoded\n%.400s", i, out[i], want[i])
		}
	}
	// Truncations: a welcome and a delta, cut everywhere.
	_, full, delta := validMessages(t)
	var cuts []string
	for _, m := range [][]byte{full, delta} {
		for n := 1; n < len(m); n++ {
			cuts = append(cuts, base64(full), base64(m[:n]))
		}
	}
	args, _ = json.Marshal(cuts)
	out = eval[[]string](t, ctx, "("+jsDigest+")("+string(args)+")")
	for i := 1; i < len(out); i += 2 {
		if !strings.HasPrefix(out[i], "error: ") {
			t.Fatalf("a cut message was accepted by the browser client: %.200s", out[i])
		}
	}
}

// BenchmarkBrowserDecode: the browser client's decode of one snapshot
// message at 2000 bodies (a delta against its base, and a full one) in
// headless Chromium, beside JSON.parse of version 2's message for the
// same snapshot (the least a version 2 browser client would have spent),
// in the same run.
func BenchmarkBrowserDecode(b *testing.B) {
	ctx := browser(b)
	name := proctest.Name(b)
	b.Cleanup(func() { venom.Remove(name + ".net") })
	np := proctest.Start(b, "net", name, "127.0.0.1:0")
	addr := np.Expect(b, `^listening (\S+)`, 10*time.Second)[1]
	step(b, ctx, 20*time.Second, "load the page", chromedp.Navigate("http://"+addr+"/?name=bench"))
	waitJS(b, ctx, 10*time.Second, "the decoder", `typeof window.venomDecode === 'function'`)

	base, cur := benchWorlds(b)
	full, _ := AppendSnapshot(nil, 1, 0, nil, base)
	delta, _ := AppendSnapshot(nil, 2, 1, base, cur)
	fullCur, _ := AppendSnapshot(nil, 2, 0, nil, cur)
	v2d, _ := v2MarshalDelta(v2Diff(base, cur))
	v2f, _ := v2MarshalSnapshot(*cur)
	js := fmt.Sprintf(`(() => {
  const bin = (s) => Uint8Array.from(atob(s), c => c.charCodeAt(0)).buffer;
  const full = bin(%q), delta = bin(%q), fullCur = bin(%q);
  const v2delta = %q, v2full = %q;
  const bases = new Map();
  bases.set(1, window.venomDecode(full, new Map()));
  const time = (f) => {
    for (let i = 0; i < 30; i++) f();
    const n = 200, t0 = performance.now();
    for (let i = 0; i < n; i++) f();
    return (performance.now() - t0) / n;
  };
  let moved = 0;
  const r = {
    v3delta: time(() => { moved += window.venomDecode(delta, bases).bodies.n; }),
    v3full: time(() => { moved += window.venomDecode(fullCur, new Map()).bodies.n; }),
    v2delta: time(() => { moved += JSON.parse(v2delta).delta.moved.length; }),
    v2full: time(() => { moved += JSON.parse(v2full).snapshot.bodies.length; }),
  };
  return [r.v3delta, r.v3full, r.v2delta, r.v2full, moved > 0 ? 1 : 0];
})()`, base64(full), base64(delta), base64(fullCur),
		string(v2Message(2, 1, cur.Tick, v2d)), string(v2Message(2, 0, cur.Tick, v2f)))
	var r []float64
	for b.Loop() {
		r = eval[[]float64](b, ctx, js)
	}
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(r[0], "js-v3-delta-ms")
	b.ReportMetric(r[1], "js-v3-full-ms")
	b.ReportMetric(r[2], "js-v2-delta-JSON.parse-ms")
	b.ReportMetric(r[3], "js-v2-full-JSON.parse-ms")
}

func base64(b []byte) string { return b64.StdEncoding.EncodeToString(b) }

// reapOrphans waits for the children this process adopted as a child
// subreaper (Chromium's helpers, orphaned when chromedp kills the
// browser), so none is left a zombie.
func reapOrphans(within time.Duration) {
	deadline := time.Now().Add(within)
	for step := time.Millisecond; ; step = min(2*step, 50*time.Millisecond) {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		switch {
		case pid > 0:
			continue
		case errors.Is(err, syscall.ECHILD):
			return
		case time.Now().After(deadline):
			return
		}
		time.Sleep(step)
	}
}

// The browser draws one world from two regions of physics: the bodies of
// both, and it tells net its view (the whole world its canvas shows).
func TestBrowserRegions(t *testing.T) {
	ctx := browser(t)
	g := startRegions(t) // 200 bodies, 100 in each of two regions of a 2000×720 world
	page := "http://" + strings.TrimPrefix(g.url, "ws://") + "/?name=regions"
	step(t, ctx, 20*time.Second, "load "+page, chromedp.Navigate(page))
	waitJS(t, ctx, 20*time.Second, "both regions' bodies on the page",
		`window.venom && window.venom.state === 'connected' && window.venom.bodies === 200 && window.venom.drawn > 3`)
	waitJS(t, ctx, 10*time.Second, "the view sent", `window.venom.view === '0,0,2000,720'`)
	if s := eval[string](t, ctx, `window.venom.state`); s != "connected" {
		t.Fatalf("state %q after the view: the server refused it", s)
	} // The debug key B's borders: one per cut between the members the
	// status names, none for a world of one region.
	for js, want := range map[string]string{
		`JSON.stringify(window.venomBorders([{name: 'physics-0'}, {name: 'ai'}, {name: 'physics-1'}], 2000))`:        `[1000]`,
		`JSON.stringify(window.venomBorders([{name: 'physics-2'}, {name: 'physics-0'}, {name: 'physics-1'}], 1200))`: `[400,800]`,
		`JSON.stringify(window.venomBorders([{name: 'physics'}, {name: 'net'}], 1280))`:                              `[]`,
		`JSON.stringify(window.venomBorders([{name: 'physics-x'}, {name: 'physics-'}, {name: 'xphysics-1'}], 1280))`: `[]`,
	} {
		if got := eval[string](t, ctx, js); got != want {
			t.Errorf("%s = %s, want %s", js, got, want)
		}
	}
}
