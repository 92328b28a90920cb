package proctest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// shmEnv names the test a re-executed test binary runs in its own mount
// namespace.
const shmEnv = "VENOMRT_SMALL_SHM"

// SmallShm runs the calling test again in a test binary of its own, in a
// new mount namespace whose /dev/shm is a tmpfs of size bytes, as a
// container started with a small --shm-size has it, and reports whether
// this is that run: true, go on with the test; false, the re-run is over
// and has passed (its output is logged). It needs root, as CI has it;
// without, the test is skipped and says why.
func SmallShm(t *testing.T, size int64) bool {
	t.Helper()
	if os.Getenv(shmEnv) == t.Name() {
		mountShm(t, size)
		return true
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: mounts a small tmpfs over /dev/shm in a mount namespace of its own")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^"+regexp.QuoteMeta(t.Name())+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), shmEnv+"="+t.Name(), "GORACE=atexit_sleep_ms=0")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS, Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EINVAL) {
		t.Skipf("no mount namespace here (%v): cannot give the test a small /dev/shm", err)
	}
	if err != nil || !bytes.Contains(out, []byte("--- PASS: "+t.Name())) {
		t.Fatalf("%s in a %d-byte /dev/shm: %v\n%s", t.Name(), size, err, out)
	}
	t.Logf("in a %d-byte /dev/shm:\n%s", size, out)
	return false
}

// mountShm mounts a tmpfs of size bytes over /dev/shm, in this process's
// mount namespace only: it refuses to unless that namespace is not its
// parent's, and makes every mount private first, so nothing propagates
// to the host.
func mountShm(t *testing.T, size int64) {
	t.Helper()
	self, err1 := os.Readlink("/proc/self/ns/mnt")
	parent, err2 := os.Readlink("/proc/" + strconv.Itoa(os.Getppid()) + "/ns/mnt")
	if err1 != nil || err2 != nil || self == parent {
		t.Fatalf("not in a mount namespace of its own (%s, parent %s: %v %v): not mounting over /dev/shm", self, parent, err1, err2)
	}
	if err := unix.Mount("none", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		t.Fatalf("make mounts private: %v", err)
	}
	if err := unix.Mount("tmpfs", "/dev/shm", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, fmt.Sprintf("size=%d,mode=1777", size)); err != nil {
		t.Fatalf("mount a tmpfs over /dev/shm: %v", err)
	}
	var st unix.Statfs_t
	page := int64(os.Getpagesize())
	if err := unix.Statfs("/dev/shm", &st); err != nil || int64(st.Blocks)*st.Bsize != (size+page-1)/page*page || st.Bfree != st.Blocks {
		t.Fatalf("/dev/shm after the mount: %+v %v, want an empty %d bytes", st, err, size)
	}
}
