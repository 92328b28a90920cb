// Package venom is a shared-memory channel between one daemon process and
// many client processes on the same Linux machine.
//
// A daemon owns a segment, a file /dev/shm/venom.<name>, and publishes
// snapshots of its state into a ring of buffers. Clients ("shells") read the
// newest whole snapshot without ever blocking the daemon, and send it
// commands through per-client single-producer lanes. A Request waits for an
// answer in the client's response buffer.
//
// # Layout
//
// Every region starts on a 64-byte boundary, every field is a fixed-width
// integer in the machine's (little-endian) byte order, and no Go pointer is
// ever stored in the segment: a segment is a header, a snapshot ring of
// History buffers, a table of MaxClients client entries with their response
// buffers, and one command lane per client entry.
//
// # Shared memory
//
// A page of a tmpfs file is allocated when it is first touched, and a touch
// the filesystem cannot back is SIGBUS. So every byte of a segment is
// reserved (fallocate) before it is mapped: by Create for a new segment, and
// by Create (adopting) or Connect for one that is not wholly backed. When
// /dev/shm cannot hold it they fail with ErrNoSpace, leaving no new file
// behind; after they succeed, no access to the segment can fault for want of
// memory. SegmentSize and FreeSpace let a program check before it starts.
//
// # Memory model
//
// Sequence, position and state words are read and written with sync/atomic.
// Payloads (snapshots, commands, responses) are copied with plain copies
// placed between atomic loads and stores of the word that guards them. That
// is sound on amd64 and arm64, the architectures this package builds for:
// Go's atomics are sequentially consistent and also act as compiler
// barriers, so a plain copy cannot move across them. The tests check it with
// checksummed payloads written by another process.
//
// # Trust
//
// Every byte of a segment may have been written by a buggy or hostile
// process. Lengths, positions and indexes read from it are bounds-checked
// before use; a value out of range gives an error wrapping ErrCorrupt (or
// ErrIncompatible for the header), never a panic or an unbounded wait.
// Truncating the file under a mapping is outside this model: the kernel
// answers it with SIGBUS.
package venom
