package venom

import (
	"sync/atomic"
	"time"
	"unsafe"
	_ "unsafe" // for go:linkname

	"golang.org/x/sys/unix"
)

// nanotime is CLOCK_MONOTONIC in nanoseconds, read through the vDSO: the
// same clock in every process, so heartbeats compare across processes.
//
//go:linkname nanotime runtime.nanotime
func nanotime() int64

// Monotonic returns CLOCK_MONOTONIC in nanoseconds, the clock of every
// timestamp venom stores in a segment.
func Monotonic() int64 { return nanotime() }

// pause is a spin-wait hint to the CPU (PAUSE on amd64, YIELD on arm64).
func pause()

// Futex operations without FUTEX_PRIVATE_FLAG: the words are shared
// between processes.
const (
	futexWaitOp = 0
	futexWakeOp = 1
)

// futexWait sleeps while *addr == val, for at most d. The futex is shared
// (not FUTEX_PRIVATE) because the word lives in memory mapped by several
// processes. Spurious and early returns are fine: callers re-check.
func futexWait(addr *atomic.Uint32, val uint32, d time.Duration) {
	ts := unix.NsecToTimespec(int64(d))
	unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWaitOp, uintptr(val),
		uintptr(unsafe.Pointer(&ts)), 0, 0)
}

// futexWake wakes every process sleeping on addr.
func futexWake(addr *atomic.Uint32) {
	unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWakeOp, uintptr(1<<31-1), 0, 0, 0)
}

// waiter waits for a condition published through a futex word guarded by
// a "sleeping" flag: the other side bumps the word and makes the wake
// system call only when the flag is up.
type waiter struct {
	policy  WaitPolicy
	spinFor time.Duration
}

// wait returns when ready() is true or after roughly slice, whichever
// comes first; it reports ready(). It never spins longer than spinFor
// (Spin: than slice) without sleeping or yielding.
func (w waiter) wait(word, sleeping *atomic.Uint32, ready func() bool, slice time.Duration) bool {
	if ready() {
		return true
	}
	start := nanotime()
	switch w.policy {
	case Spin:
		for i := 0; ; i++ {
			pause()
			if ready() {
				return true
			}
			if i&255 == 255 && nanotime()-start > int64(slice) {
				return false
			}
		}
	case Hybrid:
		for i := 0; ; i++ {
			pause()
			if ready() {
				return true
			}
			if i&15 == 15 && nanotime()-start > int64(w.spinFor) {
				break
			}
		}
	}
	// Raise the flag, then re-check: with sequentially consistent atomics
	// either the other side sees the flag and wakes us, or we see its
	// update here; the futex value check closes the window in between.
	v := word.Load()
	sleeping.Store(1)
	if !ready() {
		futexWait(word, v, slice)
	}
	sleeping.Store(0)
	return ready()
}

// wake is the other side of wait: call it after publishing the update.
func wake(word, sleeping *atomic.Uint32) {
	// Swap lowers the flag, so of many wakers before the sleeper runs
	// again only the first makes the system call.
	if sleeping.Load() != 0 && sleeping.Swap(0) != 0 {
		word.Add(1)
		futexWake(word)
	}
}
