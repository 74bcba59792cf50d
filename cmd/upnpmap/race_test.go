//go:build race

package main

// raceEnabled makes TestMain build the CLI with -race too, so that the
// binary the tests drive is checked like the tests themselves.
const raceEnabled = true
