package venom

import (
	"errors"
	"io/fs"
)

// Errors returned by this package, comparable with errors.Is.
var (
	// ErrName means a channel name is not 1 to 64 of [A-Za-z0-9._-].
	ErrName = errors.New("venom: invalid name")
	// ErrTooLarge means a payload does not fit its buffer or cell.
	ErrTooLarge = errors.New("venom: too large")
	// ErrFull means every client slot of the segment is taken.
	ErrFull = errors.New("venom: no free client slot")
	// ErrQueueFull means the client's command lane has no free cell.
	ErrQueueFull = errors.New("venom: command lane full")
	// ErrBusy means another live process owns the segment.
	ErrBusy = errors.New("venom: segment owned by a live process")
	// ErrIncompatible means the segment's header is not one this code can
	// use: another magic, layout version or configuration.
	ErrIncompatible = errors.New("venom: incompatible segment")
	// ErrCorrupt means a value read from the segment is out of range.
	ErrCorrupt = errors.New("venom: corrupt segment")
	// ErrDaemonGone means the segment's owner is dead, closed or silent
	// for longer than the client's daemon timeout.
	ErrDaemonGone = errors.New("venom: daemon gone")
	// ErrDaemonRestarted means the daemon changed (its epoch moved) while
	// a request was in flight; the request may or may not have been served.
	ErrDaemonRestarted = errors.New("venom: daemon restarted during request")
	// ErrClosed means the Daemon or Shell was closed.
	ErrClosed = errors.New("venom: closed")
	// ErrNoData means nothing has been published yet (or the snapshot
	// asked for has already been overwritten).
	ErrNoData = errors.New("venom: no data")
	// ErrNoSpace means /dev/shm cannot back a segment: a segment's memory
	// is reserved when it is created (or adopted, or connected to), so no
	// later access to it can fault with SIGBUS; when it cannot be, Create
	// and Connect fail with an error wrapping ErrNoSpace (a *SpaceError:
	// the bytes needed and free) and leave nothing behind. Retrying does
	// not help until something frees /dev/shm or it is made larger.
	ErrNoSpace = errors.New("venom: no space in /dev/shm")
	// ErrNotFound means no segment of that name exists (yet). It wraps
	// fs.ErrNotExist.
	ErrNotFound = notFound{}
)

type notFound struct{}

func (notFound) Error() string        { return "venom: segment not found" }
func (notFound) Is(target error) bool { return target == fs.ErrNotExist }
