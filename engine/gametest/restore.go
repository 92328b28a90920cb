package gametest

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/venomrt/venomrt/engine"
)

// ErrDiverged is a restore check whose restored Sim did not go on
// exactly as the one that made the snapshot.
var ErrDiverged = errors.New("gametest: restored simulation diverged")

// RestoreCheck describes CheckRestore's run.
type RestoreCheck[M, T any] struct {
	// Schema is the process's snapshot schema.
	Schema engine.Schema[M, T]
	// Steps is how many ticks both Sims run after the restore (default 100).
	Steps int
	// Step is the tick's length (default 1/60 s).
	Step time.Duration
	// Commands, when set, gives the commands both Sims are handed at the
	// start of each tick (tick counts from 0 at the restore), as
	// engine.Run hands a tick's commands before its step. Both must
	// apply or refuse each alike.
	Commands func(tick int) []engine.Command
}

// CheckRestore checks that sim's snapshot restores bit for bit, as a
// warm restart does: it encodes sim's snapshot as engine.Run publishes
// it, decodes the bytes, hands the frame to fresh's Restore, then steps
// both Sims c.Steps ticks with the same commands and compares their
// snapshots byte for byte after the restore and after every tick. It
// returns nil, or an error wrapping ErrDiverged that names the first
// tick and byte that differ (or the Restore's, Handle's or encoding's
// error). fresh is a Sim configured as a new process would be, not yet
// restored.
//
// Only the Sims' own state is compared: a Sim that reads another
// process's slice in its Step must read nothing here (no channel to
// follow) or the same for both, or the check is of the inputs' timing,
// not of the restore.
func CheckRestore[M, T any](c RestoreCheck[M, T], sim, fresh engine.Sim[M, T]) error {
	if c.Steps <= 0 {
		c.Steps = 100
	}
	if c.Step <= 0 {
		c.Step = time.Second / 60
	}
	published, err := encode(c.Schema, sim)
	if err != nil {
		return fmt.Errorf("gametest: restore check: the snapshot: %w", err)
	}
	var f engine.Frame[M, T]
	if err := c.Schema.Decode(published, &f); err != nil {
		return fmt.Errorf("gametest: restore check: decoding the snapshot: %w", err)
	}
	if err := fresh.Restore(&f); err != nil {
		return fmt.Errorf("gametest: restore check: Restore refused its own snapshot: %w", err)
	}
	compare := func(when string) error {
		a, err := encode(c.Schema, sim)
		if err != nil {
			return fmt.Errorf("gametest: restore check: %s: %w", when, err)
		}
		b, err := encode(c.Schema, fresh)
		if err != nil {
			return fmt.Errorf("gametest: restore check: %s, restored: %w", when, err)
		}
		if !bytes.Equal(a, b) {
			return fmt.Errorf("%w: %s: %s", ErrDiverged, when, firstDiff(a, b))
		}
		return nil
	}
	if err := compare("right after the restore"); err != nil {
		return err
	}
	for tick := range c.Steps {
		if c.Commands != nil {
			for _, cmd := range c.Commands(tick) {
				e1, e2 := sim.Handle(cmd), fresh.Handle(cmd)
				if (e1 == nil) != (e2 == nil) {
					return fmt.Errorf("%w: tick %d: command op %d: %v, restored: %v", ErrDiverged, tick, cmd.Op, e1, e2)
				}
			}
		}
		sim.Step(c.Step)
		fresh.Step(c.Step)
		if err := compare(fmt.Sprintf("after tick %d of %d", tick+1, c.Steps)); err != nil {
			return err
		}
	}
	return nil
}

// encode is a Sim's snapshot as engine.Run publishes it, minus the
// header fields only the loop fills in (tick, times, the input ledger),
// which are not the Sim's to restore.
func encode[M, T any](sl engine.Schema[M, T], s engine.Sim[M, T]) ([]byte, error) {
	var meta M
	items := s.Snapshot(&meta, nil)
	buf := make([]byte, sl.Size(len(items)))
	n, err := sl.Encode(buf, engine.Header{}, &meta, items)
	if err != nil {
		return nil, err
	}
	return buf[:n], nil
}

// firstDiff says where two encodings first differ.
func firstDiff(a, b []byte) string {
	if len(a) != len(b) {
		return fmt.Sprintf("%d bytes, restored %d", len(a), len(b))
	}
	for i := range a {
		if a[i] != b[i] {
			return fmt.Sprintf("byte %d of %d: %#02x, restored %#02x", i, len(a), a[i], b[i])
		}
	}
	return "equal"
}
