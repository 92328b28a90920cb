package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// A hot standby is a second process of a child, started by the Supervisor
// ahead of need (ChildSpec.Standby). In Run it waits on its channel's
// ownership lock (venom.CreateWait), which the kernel hands over the
// instant the owner dies; it then adopts the channel and restores the
// last snapshot, but it does not tick until the supervisor says go, so a
// crash loop still backs off. The supervisor and the standby talk over two
// pipes the supervisor passes it, named in the environment variable
// StandbyEnv: "GO,READY", two file descriptors. On READY the standby
// writes one byte when it waits ('w') and one when it owns the channel
// ('o'); on GO the supervisor writes one byte, 'g', to say go, or closes
// it to stand the standby down.

// StandbyEnv is the environment variable by which a Supervisor starts a
// child as a standby: "GOFD,READYFD".
const StandbyEnv = "VENOMRT_STANDBY"

// The bytes of the standby protocol, on the pipes StandbyEnv names: a
// standby says StandbyWaiting, then StandbyOwner; its supervisor says
// StandbyGo.
const (
	StandbyWaiting byte = 'w' // standby → supervisor: waiting for the owner's lock
	StandbyOwner   byte = 'o' // standby → supervisor: owns the channel, waits for go
	StandbyGo      byte = 'g' // supervisor → standby: go
)

// ErrStandDown is what Standby.AwaitGo returns when the supervisor closes
// the standby's line without saying go: it is not needed any more.
var ErrStandDown = errors.New("engine: standby stood down")

// Standby is a standby process's line to its supervisor. Its methods may
// be called from one goroutine at a time.
type Standby struct {
	goR, ready *os.File
	once       sync.Once
}

// TakeStandby returns the line the supervisor gave this process when it
// started it as a standby (StandbyEnv), and nil when it did not. It
// unsets the variable, so only the first caller, and no process this one
// starts, takes it. Run calls it when Options.Standby is nil; a process
// that does not run Run (a main of its own) calls it to wait for go
// before it starts (Standby.Waiting, then AwaitGo).
func TakeStandby() (*Standby, error) {
	v, ok := os.LookupEnv(StandbyEnv)
	if !ok {
		return nil, nil
	}
	os.Unsetenv(StandbyEnv)
	bad := func(why string) (*Standby, error) {
		return nil, fmt.Errorf("engine: %s=%q: %s", StandbyEnv, v, why)
	}
	parts := strings.Split(v, ",")
	if len(parts) != 2 {
		return bad("want GOFD,READYFD")
	}
	var fds [2]int
	for i, p := range parts {
		fd, err := strconv.Atoi(p)
		if err != nil || fd < 3 || fd > 1<<20 {
			return bad("want two file descriptors above 2")
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFIFO {
			return bad(fmt.Sprintf("descriptor %d is not a pipe", fd))
		}
		fds[i] = fd
	}
	if fds[0] == fds[1] {
		return bad("the same descriptor twice")
	}
	// Non-blocking, so the poller serves the reads: AwaitGo's wait can
	// then be ended by a deadline when ctx ends.
	for _, fd := range fds {
		if err := unix.SetNonblock(fd, true); err != nil {
			return bad(err.Error())
		}
	}
	return &Standby{goR: os.NewFile(uintptr(fds[0]), "standby-go"), ready: os.NewFile(uintptr(fds[1]), "standby-ready")}, nil
}

// Waiting tells the supervisor that the standby is ready: about to wait
// for the owner's lock (or, for a process that does not run Run, for
// go). A supervisor that is gone is not an error here: the parent-death
// signal ends the standby.
func (s *Standby) Waiting() { s.say(StandbyWaiting) }

// Owner tells the supervisor that the standby owns the channel: its
// predecessor is gone, and it waits for go.
func (s *Standby) Owner() { s.say(StandbyOwner) }

func (s *Standby) say(b byte) { s.ready.Write([]byte{b}) }

// AwaitGo blocks until the supervisor says go (nil), closes the line
// without (ErrStandDown), or ctx ends (its error).
func (s *Standby) AwaitGo(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { s.goR.SetReadDeadline(time.Now()) })
	defer stop()
	var b [1]byte
	for {
		n, err := s.goR.Read(b[:])
		switch {
		case n == 1 && b[0] == StandbyGo:
			return nil
		case n == 1:
			continue // not ours to act on
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, io.EOF):
			return ErrStandDown
		case err != nil:
			return fmt.Errorf("engine: standby: waiting for go: %w", err)
		}
	}
}

// Close closes the line.
func (s *Standby) Close() {
	s.once.Do(func() {
		s.goR.Close()
		s.ready.Close()
	})
}
