package ai

import (
	"fmt"
	"testing"
	"time"

	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/internal/proctest"
	"github.com/venomrt/venomrt/procs/physics"
	"github.com/venomrt/venomrt/procs/world/worldtest"
)

// The agents see one world of every region's bodies, and a push goes to
// the region holding its body.
func TestSimReadsEveryRegion(t *testing.T) {
	inst := proctest.Name(t)
	var rs []*worldtest.Region
	var chans []string
	for i := range 2 {
		ch := fmt.Sprintf("%s.physics-%d", inst, i)
		chans = append(chans, ch)
		r := worldtest.Start(t, ch)
		r.Publish(t, worldtest.Meta(i, 2, 1280, 720, 50, 0, 0), worldtest.Bodies(uint32(1+50*i), 50, 640*float32(i), 640*float32(i+1), 400))
		rs = append(rs, r)
	}
	p := &Sim{Seed: 1, Agents: 200, Physics: chans}
	defer p.Close()
	if err := p.Restore(nil); err != nil {
		t.Fatal(err)
	}
	proctest.Eventually(t, 10*time.Second, "both regions' bodies", func() bool { return len(p.readPhysics()) == 100 })
	// Step's pushes go through this Send: id 75 is region 1's.
	if err := p.phys.Send(engine.Cmd(physics.OpImpulse, 75, 1, 1)); err != nil {
		t.Fatal(err)
	}
	proctest.Eventually(t, 10*time.Second, "the push taken by region 1", func() bool {
		for i, r := range rs {
			r.Publish(t, worldtest.Meta(i, 2, 1280, 720, 50, 0, 0), worldtest.Bodies(uint32(1+50*i), 50, 640*float32(i), 640*float32(i+1), 400))
		}
		return len(rs[1].Commands()) == 1
	})
	if n := len(rs[0].Commands()); n != 0 {
		t.Errorf("region 0 took %d commands, want none: body 75 is region 1's", n)
	}
}
