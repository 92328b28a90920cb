package engine_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/venom"
)

// runCounter runs the example's counter on channel in a goroutine, as
// its own process would; stop ends it and removes its segment.
func runCounter(channel string) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() {
		ran <- engine.Run(ctx, counterSchema, &counter{}, engine.Options{Channel: channel, Rate: 100, DataSize: 4 << 10, Log: warnings})
	}()
	return func() {
		cancel()
		<-ran
		venom.Remove(channel)
	}
}

// A Follower follows another process's slice: Poll once per tick or
// frame, then read Cur. It connects when the channel appears, goes
// stale while its owner is down, and carries on with the owner's
// successor (a new Epoch) or with a new segment after --fresh by
// itself. Send queues commands for the owner.
func ExampleFollower() {
	channel := fmt.Sprintf("example%d.follow", os.Getpid())
	f := engine.Follow(channel, counterSchema, engine.FollowOptions{})
	defer f.Close()
	fmt.Println("before the owner:", f.Poll())

	stop := runCounter(channel)
	defer stop()
	// until waits for a condition, polling once a millisecond, for 10 s
	// at most.
	until := func(cond func() bool) bool {
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			if f.Poll() == engine.FollowLive && cond() {
				return true
			}
		}
		return false
	}
	if !until(func() bool { return true }) {
		fmt.Println("not live:", f.Err())
		return
	}
	fmt.Println("owner up:", f.State(), "epoch", f.Epoch())
	f.Send(engine.Cmd(opAdd, 40))
	f.Send(engine.Cmd(opAdd, 2))
	if !until(func() bool { return f.Cur.Meta.Adds == 2 }) {
		fmt.Println("not applied")
		return
	}
	fmt.Printf("sum %v, %d items, younger than a second: %v\n", f.Cur.Meta.Sum, len(f.Cur.Items), f.Age(venom.Monotonic()) < time.Second)
	// Output:
	// before the owner: waiting
	// owner up: live epoch 1
	// sum 42, 2 items, younger than a second: true
}

// An Asker's commands are answered: applied, or refused with the
// process's reason (Sim.Handle's error). Each Asker is a sender of its
// own, so a one-shot tool run twice is never taken for a redelivery.
func ExampleAsker() {
	channel := fmt.Sprintf("example%d.ask", os.Getpid())
	stop := runCounter(channel)
	defer stop()
	var a *engine.Asker
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		var err error
		if a, err = engine.NewAsker(channel); err == nil {
			break
		}
		if !errors.Is(err, venom.ErrNotFound) || time.Now().After(deadline) {
			fmt.Println(err)
			return
		}
	}
	defer a.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fmt.Println("add 2:", a.Ask(ctx, engine.Cmd(opAdd, 2)))
	err := a.Ask(ctx, engine.Cmd(engine.OpUser+9))
	fmt.Println("op 73:", err)
	fmt.Println("refused:", errors.Is(err, engine.ErrRefused))
	// Output:
	// add 2: <nil>
	// op 73: refused: engine: unknown op: 73
	// refused: true
}

// frames is a renderer's slice: its frame counter.
type frames struct{ Frames uint64 }

var renderSchema = engine.MustSchema[frames, entry]()

// A renderer draws at its own pace, not on Run's fixed steps, but owns
// its channel as every process does: an Owner creates it (or adopts the
// one a crashed renderer left: Header.Tick, its frame counter, carries
// on), takes the commands sent to it once per frame (Poll) — the
// engine's faults among them, carried out as by any process — and
// publishes the frame's snapshot.
func ExampleOwner() {
	channel := fmt.Sprintf("example%d.render", os.Getpid())
	defer venom.Remove(channel)
	w, err := engine.Own(context.Background(), renderSchema, engine.OwnOptions[frames, entry]{
		Channel: channel, Config: venom.Config{DataSize: 1024, History: 2}, Log: warnings,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer w.Close()
	for range 3 { // three frames
		w.Poll()
		h := w.Header()
		h.Tick++
		if err := w.Publish(&frames{Frames: h.Tick}, nil); err != nil {
			fmt.Println(err)
			return
		}
	}
	f := engine.Follow(channel, renderSchema, engine.FollowOptions{})
	defer f.Close()
	fmt.Println(f.Poll(), "frame", f.Cur.Meta.Frames, "epoch", f.Epoch())
	// Output:
	// live frame 3 epoch 1
}
