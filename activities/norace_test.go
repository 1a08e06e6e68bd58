//go:build !race

package activities

// raceEnabled: see race_test.go.
const raceEnabled = false
