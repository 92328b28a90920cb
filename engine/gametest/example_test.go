package gametest_test

import (
	"errors"
	"fmt"
	"os"

	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/engine/gametest"
)

// Start the game as a real process tree, read a process's snapshot, ask
// it commands, SIGKILL it and see its successor carry on from its last
// snapshot. (In a test, gametest.Start(t, "run") does the Launch, Ready
// and Stop.)
func ExampleLaunch() {
	g, err := gametest.Launch(gametest.Options{Instance: fmt.Sprintf("example-launch.%d", os.Getpid()), Args: []string{"run"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer g.Stop()
	if err := g.Ready(); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("add 40:", g.Ask("a", engine.Cmd(opAdd, 40)))
	err = g.Ask("a", engine.Cmd(opAdd, -2))
	fmt.Println("add -2:", err, errors.Is(err, engine.ErrRefused))

	before, _ := g.Child("a")
	after, err := g.Kill("a")
	if err != nil {
		fmt.Println(err)
		return
	}
	f, err := gametest.Newest(g, "a", tallySchema)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("new pid:", after.Pid != before.Pid, "restarts:", after.Restarts, "sum:", f.Meta.Sum)
	fmt.Println("stop:", g.Stop())
	// Output:
	// add 40: <nil>
	// add -2: refused: engine: bad argument: cannot add -2: amounts are never negative true
	// new pid: true restarts: 1 sum: 40
	// stop: <nil>
}

// A process killed anywhere resumes from its last snapshot: CheckRestore
// proves, without processes, that the snapshot is the whole state — the
// restored Sim goes on bit for bit as the one that published it.
func ExampleCheckRestore() {
	check := gametest.RestoreCheck[tally, entry]{
		Schema: tallySchema,
		Steps:  300,
		Commands: func(tick int) []engine.Command {
			return []engine.Command{engine.Cmd(opAdd, float64(tick%7))}
		},
	}
	c := &counter{}
	c.Restore(nil)
	fmt.Println("counter:", gametest.CheckRestore(check, c, &counter{}))

	f := &forgetful{} // keeps a field out of its snapshot
	f.Restore(nil)
	f.Step(0)
	err := gametest.CheckRestore(check, f, &forgetful{})
	fmt.Println("forgetful:", errors.Is(err, gametest.ErrDiverged))
	// Output:
	// counter: <nil>
	// forgetful: true
}

// Wait polls a condition at a bounded interval until it holds or the
// deadline passes; the error says what did not happen.
func ExampleWait() {
	looks := 0
	err := gametest.Wait(gametest.DefaultTimeout, "the third look", func() bool { looks++; return looks == 3 })
	fmt.Println(err, looks)
	err = gametest.Wait(0, "pigs flying", func() bool { return false })
	fmt.Println(err, errors.Is(err, gametest.ErrTimeout))
	// Output:
	// <nil> 3
	// gametest: timed out after 0s: pigs flying true
}

// Number commands to a process, SIGKILL it in the middle, and read its
// account of them: every one applied exactly once, across the restart.
func ExampleGame_Sender() {
	g, err := gametest.Launch(gametest.Options{Instance: fmt.Sprintf("example-sender.%d", os.Getpid()), Args: []string{"run"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer g.Stop()
	if err := g.Ready(); err != nil {
		fmt.Println(err)
		return
	}
	s, err := g.Sender("b")
	if err != nil {
		fmt.Println(err)
		return
	}
	for i := range 10 {
		if i == 5 {
			if _, err := g.Kill("b"); err != nil {
				fmt.Println(err)
				return
			}
		}
		s.Send(engine.Cmd(opAdd, 1))
	}
	a, h, err := s.Settle()
	fmt.Printf("sent %d, applied %d, lost %d, doubled %d, exact %v, %v\n", a.Sent, a.Applied, a.Lost, a.Doubled, a.Exact(), err)
	f, _ := gametest.Newest(g, "b", tallySchema)
	fmt.Println("sum:", f.Meta.Sum, "last input:", h.LastInput)
	// Output:
	// sent 10, applied 10, lost 0, doubled 0, exact true, <nil>
	// sum: 10 last input: 10
}
