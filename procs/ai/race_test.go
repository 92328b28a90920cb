//go:build race

package ai

// raceEnabled shortens the long simulation tests under the race detector,
// which slows this single-goroutine arithmetic tenfold and finds nothing in
// it.
const raceEnabled = true
