package netproc

import (
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/venomrt/venomrt/engine"
	"github.com/venomrt/venomrt/internal/proctest"
)

// Net's Meta.BytesSent counts exactly the payload of the messages it
// wrote to players: with one player, any value its slice publishes is
// the size of a prefix of the messages that player receives (welcome
// first), byte for byte — never a count of something else, never one
// counted twice.
func TestBytesSentExact(t *testing.T) {
	g := startGame(t, 5)
	ctx := proctest.Context(t, 30*time.Second)
	u, err := JoinURL(g.url, "counted")
	if err != nil {
		t.Fatal(err)
	}
	ws, _, err := websocket.Dial(ctx, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	ws.SetReadLimit(MaxServerMessage)
	var received uint64
	prefixes := map[uint64]bool{0: true} // the byte counts of every prefix of the messages
	var sizes []int
	read := func() {
		t.Helper()
		_, b, err := ws.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		received += uint64(len(b))
		prefixes[received] = true
		sizes = append(sizes, len(b))
	}
	for range 5 {
		read()
	}
	c, err := engine.Connect(g.name+".net", Schema)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for round := 0; round < 3; {
		var f engine.Frame[Meta, Player]
		if err := c.Read(&f); err != nil {
			t.Fatal(err)
		}
		counted := f.Meta.BytesSent
		if counted == 0 { // a snapshot made before the first write: the empty prefix
			read()
			continue
		}
		round++
		for received < counted {
			read()
		}
		if !prefixes[counted] {
			t.Fatalf("round %d: net counted %d bytes sent, the size of no prefix of the player's messages (sizes %v)", round, counted, sizes)
		}
		for range 3 {
			read()
		}
	}
}
