//go:build race

package activities

// raceEnabled reports whether the tests run under the race detector, whose
// shadow memory makes a process's resident size several times what the
// program holds: the tests that measure peak memory skip then.
const raceEnabled = true
