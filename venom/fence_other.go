//go:build !arm64

package venom

// On amd64 (TSO) loads are not reordered with older loads, nor stores
// with older stores, so a seqlock needs no fence instruction; the atomic
// loads and stores around a copy already keep the compiler from moving
// it. These are empty and inlined away: the read path is what it was
// (see fence_arm64.go for arm64).

func loadFence()  {}
func storeFence() {}
