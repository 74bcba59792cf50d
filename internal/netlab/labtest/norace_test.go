//go:build linux && !race

package labtest

const raceEnabled = false
