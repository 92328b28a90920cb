package netproc

import (
	"context"
	"embed"
	"net/http"
	"strings"
)

// The browser client: one page and one script, embedded in the binary,
// no build step, no framework, nothing fetched from elsewhere.
//
//go:embed web/index.html web/client.js
var webFiles embed.FS

// route serves the browser client at GET / and the game at Path (a
// WebSocket handshake anywhere is answered there: a client of another
// protocol version gets a close reason naming this one).
func (p *Proc) route(ctx context.Context, w http.ResponseWriter, r *http.Request) {
	if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		p.play(ctx, w, r)
		return
	}
	var file, ctype string
	switch r.URL.Path {
	case "/", "/index.html":
		file, ctype = "web/index.html", "text/html; charset=utf-8"
	case "/client.js":
		file, ctype = "web/client.js", "text/javascript; charset=utf-8"
	case Path:
		w.Header().Set("Upgrade", "websocket")
		http.Error(w, "the game's WebSocket: join with a WebSocket handshake at /ws?v=3&name=NAME (docs/PROTOCOL.md)", http.StatusUpgradeRequired)
		return
	default:
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	b, err := webFiles.ReadFile(file)
	if err != nil {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	// The page talks to this host only, and no other site may frame it.
	h.Set("Content-Security-Policy", "default-src 'self'; connect-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'")
	if r.Method == http.MethodHead {
		return
	}
	w.Write(b)
}
