package venom

import (
	"fmt"
	"regexp"
)

const (
	magic         = 0x3154524d4f4e4556 // "VENOMRT1" as little-endian bytes
	layoutVersion = 1
	headerSize    = 512
	bufHeader     = 64  // per snapshot buffer: seq, len, pub, mono ns
	clientHeader  = 192 // per client entry before its response buffer
	laneHeader    = 128 // per lane: head line, tail line
	cellHeader    = 16  // per cell: len u32, kind u32, request id u64
)

// Header field offsets.
const (
	hMagic      = 0
	hVersion    = 8
	hDataSize   = 16
	hHistory    = 24
	hCmdSlots   = 28
	hCmdSize    = 32
	hRespSize   = 36
	hMaxClients = 40
	hRingOff    = 48
	hClientsOff = 56
	hLanesOff   = 64
	hTotalSize  = 72

	hEpoch      = 128
	hOwnerPid   = 136
	hOwnerStart = 144
	hState      = 152

	hBeatCount = 192
	hBeatNanos = 200

	hLatest = 256

	hDoorbell = 320
	hSleeping = 324
)

// Per-buffer offsets.
const (
	bSeq  = 0
	bLen  = 8
	bPub  = 16
	bMono = 24
)

// Per-client offsets.
const (
	cState    = 0
	cPid      = 8
	cStart    = 16
	cReqSeq   = 64
	cRespSeq  = 128
	cRespLen  = 136
	cRespWord = 144
	cSleeping = 148
)

// Per-lane offsets.
const (
	lHead = 0
	lTail = 64
)

// Lifecycle states of a segment.
const (
	stateCreating uint32 = iota
	stateRunning
	stateClosed
)

// Client slot states, in the low bits of the slot's state word; the high
// bits count generations so a CAS cannot confuse two claims.
const (
	slotFree     = 0
	slotClaiming = 1
	slotActive   = 2
	slotMask     = 3
	slotGen      = 4
)

// Cell kinds.
const (
	kindSend    = 1
	kindRequest = 2
)

var nameRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

func checkName(name string) error {
	if !nameRE.MatchString(name) || name == "." || name == ".." {
		return fmt.Errorf("%w: %q", ErrName, name)
	}
	return nil
}

// Path is where the segment of a channel name lives.
func Path(name string) string { return "/dev/shm/venom." + name }

func align(n, a uint64) uint64 { return (n + a - 1) &^ (a - 1) }

// layout is a segment's geometry, computed from its Config alone so a
// client never trusts offsets it has not recomputed.
type layout struct {
	dataSize, history, cmdSlots, cmdSize, respSize, maxClients uint64

	bufStride, clientStride, cellStride, laneStride uint64
	ringOff, clientsOff, lanesOff, total            uint64
}

func newLayout(c Config) layout {
	l := layout{
		dataSize:   uint64(c.DataSize),
		history:    uint64(c.History),
		cmdSlots:   uint64(c.CmdSlots),
		cmdSize:    uint64(c.CmdSize),
		respSize:   uint64(c.RespSize),
		maxClients: uint64(c.MaxClients),
	}
	l.bufStride = bufHeader + align(l.dataSize, 64)
	l.clientStride = clientHeader + align(l.respSize, 64)
	l.cellStride = align(cellHeader+l.cmdSize, 16)
	l.laneStride = align(laneHeader+l.cmdSlots*l.cellStride, 64)
	l.ringOff = headerSize
	l.clientsOff = l.ringOff + l.history*l.bufStride
	l.lanesOff = l.clientsOff + l.maxClients*l.clientStride
	l.total = l.lanesOff + l.maxClients*l.laneStride
	return l
}

func (l layout) buf(i uint64) uint64    { return l.ringOff + i*l.bufStride }
func (l layout) client(i uint64) uint64 { return l.clientsOff + i*l.clientStride }
func (l layout) lane(i uint64) uint64   { return l.lanesOff + i*l.laneStride }
func (l layout) cell(lane, pos uint64) uint64 {
	return l.lane(lane) + laneHeader + (pos&(l.cmdSlots-1))*l.cellStride
}
