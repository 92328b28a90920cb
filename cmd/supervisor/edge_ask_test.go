package main

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/engine/bridge"
	"github.com/venomrt/venomrt/internal/proctest"
	"github.com/venomrt/venomrt/procs/physics"
	"github.com/venomrt/venomrt/venom"
)

// A command asked over NATS of a real game (bridge and physics processes
// under their supervisor), with the bridge SIGKILLed while the request
// waits in physics's lane (physics held by SIGSTOP) — the answer is lost
// with it: the requester sees engine.ErrLost at its deadline; asked
// again with the same message id it hears applied (the next bridge asked
// physics again, which knew the number) or ErrNoVerdict (the next bridge
// started past it); physics applied it once either way.
func TestAskBridgeKilledWhileAsking(t *testing.T) {
	natsAddr, gameNet, _ := edgePorts(t)
	srv, err := bridge.StartServer(bridge.ServerOptions{Listen: natsAddr, StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	url := "nats://" + natsAddr
	game := proctest.Name(t)
	t.Cleanup(func() { removeInstance(game) })
	startSup(t, nil, "run", "--headless", "--instance", game, "--bodies", "100", "--agents", "0", "--net-addr", gameNet,
		"--nats", url, "--duration", "5m")
	phys := physicsClient(t, game)
	nc, err := bridge.Connect(url, "requester")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	ask := func(id string, d time.Duration) error {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		for {
			err := bridge.Ask(ctx, nc, game, "physics", engine.Cmd(engine.OpInput), id)
			if !errors.Is(err, nats.ErrNoResponders) || ctx.Err() != nil {
				return err
			}
			time.Sleep(20 * time.Millisecond) // no bridge subscribed yet: nothing stored
		}
	}
	if err := ask("first", 30*time.Second); err != nil {
		t.Fatalf("asked of the game: %v, want applied", err)
	}

	physPid := ownerPid(t, game+".physics")
	before, err := venom.Inspect(game + ".physics")
	if err != nil {
		t.Fatal(err)
	}
	syscall.Kill(physPid, syscall.SIGSTOP)
	lost := make(chan error, 1)
	go func() { lost <- ask("second", 2*time.Second) }()
	proctest.Eventually(t, 10*time.Second, "the request in physics's lane", func() bool {
		info, err := venom.Inspect(game + ".physics")
		return err == nil && info.Queued > before.Queued
	})
	bridgePid := ownerPid(t, game+".bridge")
	syscall.Kill(bridgePid, syscall.SIGKILL)
	syscall.Kill(physPid, syscall.SIGCONT)
	if err := <-lost; !errors.Is(err, engine.ErrLost) {
		t.Fatalf("asked of a bridge killed while asking: %v, want engine.ErrLost", err)
	}
	err = ask("second", 30*time.Second)
	if err != nil && !errors.Is(err, bridge.ErrNoVerdict) {
		t.Fatalf("asked again of the next bridge: %v, want applied or ErrNoVerdict", err)
	}
	t.Logf("asked again of the next bridge: %v", err)
	f := readPhysics(t, phys, "both asked commands applied", func(f *engine.Frame[physics.Meta, physics.Body]) bool { return f.LastInput >= 2 })
	if a := f.Account(2); !a.Exact() {
		t.Fatalf("physics's account of the 2 commands asked: %+v, want each applied once", a)
	} else {
		t.Logf("physics's account: %+v", a)
	}
}
