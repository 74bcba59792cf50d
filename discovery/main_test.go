package discovery

import (
	"testing"

	"go.uber.org/goleak"
)

// Every test runs inside a loopback-only network namespace (TEAM.md): the
// tests only ever address 127.0.0.0/8, ::1 or a multicast group on lo.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
