//go:build linux && race

package labtest

// raceEnabled: the test binary was built with -race, so the CLI is too.
const raceEnabled = true
