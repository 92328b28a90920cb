// Package venom is a shared-memory channel between one daemon process and
// many client processes on the same Linux machine.
//
// A daemon owns a segment, a file /dev/shm/venom.<name>, and publishes
// snapshots of its state into a ring of buffers. Clients ("shells") read the
// newest whole snapshot without ever blocking the daemon, and send it
// commands through per-client single-producer lanes. A Request waits for an
// answer in the client's response buffer.
//
// # Names and reads
//
// The package keeps its own vocabulary on purpose — Daemon (the one
// owner), Shell (a client), Publish, Poll, Send, Request — because it is
// the channel, not the game: DESIGN.md's contract names them, and its
// readers are the engine and tools, not game authors. A game reads
// through package engine, whose Client has one read call with options
// and whose Follower follows a channel across its owner's restarts.
//
// A Shell keeps its reads apart because each is a different cost on the
// path BenchmarkRead measures against memcpy: Read (ReadAt) copies the
// newest (or an older) snapshot, re-reading the last one found without
// the dependent loads that find it, with a four-word result; ReadSnapshot
// adds when it was published; ReadHead copies only a snapshot's first
// bytes; Latest copies nothing (one atomic load: is there a newer
// snapshot). Folding them into one call with options would put a branch
// and a wider result on that path for the sake of a shorter list.
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
// placed between atomic loads and stores of the word that guards them.
//
// A snapshot buffer is a seqlock: the writer makes its sequence word odd,
// writes the bytes and makes it even again; a reader loads the word, copies
// the bytes, and loads the word again, and keeps the copy only if the word
// was even and unchanged. Go's atomics are sequentially consistent among
// themselves, but on arm64 they are one-way barriers for plain accesses
// (a Load is acquire, a Store is release), which leaves two reorderings a
// seqlock must forbid: the copy's loads completing after the second
// sequence load, and the writer's bytes becoming visible before its odd
// sequence word. Go has no fence API, so on arm64 the package has two
// fences in assembly (fence_arm64.s): DMB ISHLD before a reader's second
// sequence load (loadFence) and DMB ISHST after the writer's odd store
// (storeFence). On amd64 (TSO: loads keep their order, and stores theirs)
// they are empty functions the compiler inlines away, so the read path
// there is unchanged. The lanes and responses need no fence: there a plain
// copy only ever precedes a release store or follows an acquire load.
// amd64 and arm64 are the architectures this package builds for; `make
// test` cross-builds for arm64. The tests check the seqlock with
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
