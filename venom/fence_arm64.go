package venom

// Go has no fence API, and its atomics on arm64 are one-way barriers:
// a Load is LDAR (acquire: no later access moves before it) and a Store
// is STLR (release: no earlier access moves after it). A seqlock needs
// the other directions too, so on arm64 they are DMB instructions in
// fence_arm64.s. A call to an assembly function is also a compiler
// barrier: the compiler moves no memory access across it.

// loadFence keeps the plain loads of a reader's copy before the atomic
// load of the sequence word after it, which checks that the copy is
// whole. Without it the copy's loads may be satisfied after that check
// (an acquire load orders only what follows it), and a torn copy would
// pass for whole. It is DMB ISHLD, what Linux's smp_rmb is on arm64.
func loadFence()

// storeFence keeps the plain stores a writer makes into a buffer after
// the atomic store that marks the buffer as being written (its sequence
// word made odd): a release store orders only what precedes it, so
// without the fence a reader could see the new bytes while the sequence
// word still reads even and unchanged. It is DMB ISHST, what Linux's
// smp_wmb is on arm64.
func storeFence()
