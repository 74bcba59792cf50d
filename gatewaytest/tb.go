package gatewaytest

// TB is the part of testing.TB that New uses. *testing.T, *testing.B and
// *testing.F satisfy it. It is an interface of its own so that importing
// gatewaytest (as the CLI's demo and gateway commands do) does not link
// package testing, with its flags, into a shipped binary.
type TB interface {
	Helper()
	Cleanup(func())
	Fatalf(format string, args ...any)
}
