package bridge

import (
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Creds are what a NATS server asks of its clients: a user and password,
// or a token.
type Creds struct {
	User, Password, Token string
}

// ParseCreds reads "user:password" or a token.
func ParseCreds(s string) (Creds, error) {
	if s == "" {
		return Creds{}, nil
	}
	if u, p, ok := strings.Cut(s, ":"); ok {
		if u == "" || p == "" {
			return Creds{}, fmt.Errorf("bridge: credentials %q: want user:password or a token", "***")
		}
		return Creds{User: u, Password: p}, nil
	}
	return Creds{Token: s}, nil
}

// ServerOptions configure an embedded NATS server.
type ServerOptions struct {
	Listen   string // host:port (default 127.0.0.1:4222)
	StoreDir string // JetStream's files (default a directory in os.TempDir)
	Creds    Creds  // required to listen beyond loopback
	Log      *slog.Logger
}

// Server is a NATS server with JetStream running in this process.
type Server struct {
	s   *server.Server
	url string
}

// StartServer starts a NATS server with JetStream in this process and
// waits until it accepts connections. It refuses to listen beyond
// loopback without credentials (ErrInsecure).
func StartServer(o ServerOptions) (*Server, error) {
	if o.Listen == "" {
		o.Listen = "127.0.0.1:4222"
	}
	host, portS, err := net.SplitHostPort(o.Listen)
	if err != nil {
		return nil, fmt.Errorf("bridge: NATS listen address %q: %w", o.Listen, err)
	}
	port, err := strconv.Atoi(portS)
	if err != nil || port < 0 || port > 65535 {
		return nil, fmt.Errorf("bridge: NATS listen port %q", portS)
	}
	if !loopback(host) && o.Creds == (Creds{}) {
		return nil, fmt.Errorf("%w: listening on %s lets any machine that reaches it read and command the game; "+
			"give credentials with --nats-creds user:password (or a token) or VENOMRT_NATS_CREDS, or listen on 127.0.0.1",
			ErrInsecure, o.Listen)
	}
	if o.StoreDir == "" {
		o.StoreDir = os.TempDir() + "/venomrt-nats-" + strconv.Itoa(port)
	}
	opts := &server.Options{
		Host: host, Port: port, JetStream: true, StoreDir: o.StoreDir, NoSigs: true,
		MaxPayload: 8 << 20, ServerName: "venomrt-" + strconv.Itoa(port),
		Username: o.Creds.User, Password: o.Creds.Password, Authorization: o.Creds.Token,
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("bridge: NATS server: %w", err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		return nil, fmt.Errorf("bridge: NATS server on %s not ready in 10s (is the port taken?)", o.Listen)
	}
	u := url.URL{Scheme: "nats", Host: s.Addr().String()}
	switch {
	case o.Creds.Token != "":
		u.User = url.User(o.Creds.Token)
	case o.Creds.User != "":
		u.User = url.UserPassword(o.Creds.User, o.Creds.Password)
	}
	if o.Log != nil {
		o.Log.Info("NATS server running", "listen", s.Addr().String(), "store", o.StoreDir)
	}
	return &Server{s: s, url: u.String()}, nil
}

// URL is how a client reaches the server, credentials included.
func (s *Server) URL() string { return s.url }

// Shutdown stops the server.
func (s *Server) Shutdown() {
	s.s.Shutdown()
	s.s.WaitForShutdown()
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
