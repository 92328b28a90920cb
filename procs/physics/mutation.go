package physics

// mutation breaks the hand-over on purpose, for the chaos mutation test
// (demo's TestChaosCatchesDroppedHandover): a check that proves bodies
// cross borders exactly once must be seen to fail when one does not.
// It is empty in every real build; only the linker sets it:
//
//	go build -ldflags "-X github.com/venomrt/venomrt/procs/physics.mutation=drop-handover" ./cmd/supervisor
//
// "drop-handover": the first body a region process hands over leaves
// its bodies but never reaches its outbox, and is not numbered — lost,
// once per process start (a restarted region drops one more).
var mutation string

// mutationDone is whether this process has dropped its body.
var mutationDone bool

// mutateHandover is the mutation's hook in the hand-over: called with
// both outboxes just after Emigrate appended this tick's bodies to them
// (nl and nr their lengths before), before their streams' numbers count
// them. Without a mutation it returns them as they are.
func mutateHandover(outL []Body, nl int, outR []Body, nr int) ([]Body, []Body) {
	if mutation != "drop-handover" || mutationDone {
		return outL, outR
	}
	switch {
	case len(outL) > nl:
		outL = append(outL[:nl], outL[nl+1:]...)
	case len(outR) > nr:
		outR = append(outR[:nr], outR[nr+1:]...)
	default:
		return outL, outR
	}
	mutationDone = true
	return outL, outR
}
