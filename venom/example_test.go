package venom_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/venomrt/venomrt/venom"
)

// A daemon publishes snapshots and serves commands; a shell (a client,
// usually in another process) reads the newest snapshot and sends
// commands. Here both ends are in one process.
func Example() {
	name := fmt.Sprintf("example%d.hello", os.Getpid()) // unique on this host
	d, err := venom.Create(name, venom.Config{DataSize: 256})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer venom.Remove(name) // the segment outlives its daemon until removed
	defer d.Close()

	s, err := venom.Connect(name)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()

	// The daemon publishes; the shell reads the newest whole snapshot.
	d.Publish([]byte("world at tick 1"))
	buf := make([]byte, 256)
	n, seq, err := s.Read(buf)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("snapshot %d: %s\n", seq, buf[:n])

	// The shell sends; the daemon's next Poll hands the command over.
	s.Send([]byte("jump"))
	d.Poll(func(c venom.ClientID, cmd, resp []byte) int {
		fmt.Printf("client %d sent %q\n", c, cmd)
		return 0
	})
	// Output:
	// snapshot 1: world at tick 1
	// client 0 sent "jump"
}

// Create makes a segment and owns it. While its owner lives, nobody else
// can own it; once the owner is gone, the next Create adopts the segment
// and resumes from its last snapshot.
func ExampleCreate() {
	name := fmt.Sprintf("example%d.create", os.Getpid())
	cfg := venom.Config{DataSize: 64}
	d, err := venom.Create(name, cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer venom.Remove(name)
	d.Publish([]byte("state 1"))

	_, err = venom.Create(name, cfg)
	fmt.Println("second owner refused:", errors.Is(err, venom.ErrBusy))

	d.Close() // or the process dies: the segment stays for a successor
	d2, err := venom.Create(name, cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer d2.Close()
	buf := make([]byte, 64)
	n, seq, err := d2.Read(buf)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("adopted: %v, epoch %d, resumes from snapshot %d: %s\n", d2.Adopted(), d2.Epoch(), seq, buf[:n])
	// Output:
	// second owner refused: true
	// adopted: true, epoch 2, resumes from snapshot 1: state 1
}

// Connect claims a client slot of an existing segment; each shell has its
// own slot and command lane.
func ExampleConnect() {
	name := fmt.Sprintf("example%d.connect", os.Getpid())
	_, err := venom.Connect(name)
	fmt.Println("before Create:", errors.Is(err, venom.ErrNotFound), errors.Is(err, fs.ErrNotExist))

	d, err := venom.Create(name, venom.Config{DataSize: 64, MaxClients: 2})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer venom.Remove(name)
	defer d.Close()
	for range 3 {
		s, err := venom.Connect(name)
		if err != nil {
			fmt.Println("no slot left:", errors.Is(err, venom.ErrFull))
			continue
		}
		defer s.Close()
		fmt.Println("client", s.ID())
	}
	// Output:
	// before Create: true true
	// client 0
	// client 1
	// no slot left: true
}

// Read returns the newest whole snapshot and ReadAt an older one (a
// renderer interpolates between the two newest). Neither ever waits for
// the daemon.
func ExampleShell_Read() {
	name := fmt.Sprintf("example%d.read", os.Getpid())
	d, err := venom.Create(name, venom.Config{DataSize: 64})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer venom.Remove(name)
	defer d.Close()
	s, err := venom.Connect(name)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()

	buf := make([]byte, 64)
	_, _, err = s.Read(buf)
	fmt.Println("nothing published yet:", errors.Is(err, venom.ErrNoData))

	for _, p := range []string{"x=1", "x=2", "x=3"} {
		d.Publish([]byte(p))
	}
	n, seq, _ := s.Read(buf)
	fmt.Printf("newest: %d %s\n", seq, buf[:n])
	n, seq, _ = s.ReadAt(1, buf)
	fmt.Printf("previous: %d %s\n", seq, buf[:n])
	// Output:
	// nothing published yet: true
	// newest: 3 x=3
	// previous: 2 x=2
}

// Request waits for the daemon's answer. Serve runs the daemon's side:
// it waits for commands (spinning briefly, then sleeping on a futex) and
// answers each with its handler.
func ExampleShell_Request() {
	name := fmt.Sprintf("example%d.request", os.Getpid())
	d, err := venom.Create(name, venom.Config{DataSize: 64, RespSize: 64})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer venom.Remove(name)
	defer d.Close()

	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() {
		served <- d.Serve(ctx, func(c venom.ClientID, cmd, resp []byte) int {
			if resp == nil {
				return 0 // a Send: nobody waits for an answer
			}
			return copy(resp, bytes.ToUpper(cmd))
		})
	}()

	s, err := venom.Connect(name)
	if err != nil {
		fmt.Println(err)
		cancel()
		<-served
		return
	}
	defer s.Close()
	resp := make([]byte, 64)
	for _, q := range []string{"ping", "hello"} {
		n, err := s.Request(ctx, []byte(q), resp)
		if err != nil {
			fmt.Println(err)
			break
		}
		fmt.Printf("%s → %s\n", q, resp[:n])
	}

	cancel()
	fmt.Println("Serve returned:", <-served)
	// Output:
	// ping → PING
	// hello → HELLO
	// Serve returned: context canceled
}

// Send queues a command without waiting; the daemon takes what is queued
// when it polls (a game loop: at the start of each tick). A full lane
// refuses more until the daemon has polled.
func ExampleShell_Send() {
	name := fmt.Sprintf("example%d.send", os.Getpid())
	d, err := venom.Create(name, venom.Config{DataSize: 64, CmdSlots: 2, CmdSize: 16})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer venom.Remove(name)
	defer d.Close()
	s, err := venom.Connect(name)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()

	for _, cmd := range []string{"left", "fire", "right"} {
		if err := s.Send([]byte(cmd)); err != nil {
			fmt.Printf("%s: lane full: %v\n", cmd, errors.Is(err, venom.ErrQueueFull))
		}
	}
	handle := func(c venom.ClientID, cmd, resp []byte) int {
		fmt.Printf("handled %s\n", cmd)
		return 0
	}
	fmt.Println("polled", d.Poll(handle))
	s.Send([]byte("right"))
	fmt.Println("polled", d.Poll(handle))
	// Output:
	// right: lane full: true
	// handled left
	// handled fire
	// polled 2
	// handled right
	// polled 1
}

// With CommitOnPublish, commands count as served only once a snapshot
// that includes their effect is published. A daemon that dies after Poll
// and before Publish leaves them to its successor, which restores from
// the last snapshot and is handed them again: none lost, none doubled.
func ExampleConfig_commitOnPublish() {
	name := fmt.Sprintf("example%d.commit", os.Getpid())
	cfg := venom.Config{DataSize: 64, CommitOnPublish: true}
	d, err := venom.Create(name, cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer venom.Remove(name)
	s, err := venom.Connect(name)
	if err != nil {
		fmt.Println(err)
		d.Close()
		return
	}
	defer s.Close()
	s.Send([]byte("a"))
	s.Send([]byte("b"))

	d.Poll(func(_ venom.ClientID, cmd, _ []byte) int { fmt.Printf("first daemon: %s\n", cmd); return 0 })
	d.Close() // gone before it published

	d2, err := venom.Create(name, cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer d2.Close()
	d2.Poll(func(_ venom.ClientID, cmd, _ []byte) int { fmt.Printf("successor: %s\n", cmd); return 0 })
	uncommitted := func() int {
		info, err := venom.Inspect(name)
		if err != nil {
			return -1
		}
		return info.Queued
	}
	fmt.Println("uncommitted before publish:", uncommitted())
	d2.Publish([]byte("a and b applied")) // commits them
	fmt.Println("uncommitted after publish:", uncommitted())
	// Output:
	// first daemon: a
	// first daemon: b
	// successor: a
	// successor: b
	// uncommitted before publish: 2
	// uncommitted after publish: 0
}
