package reach

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any goroutine outlives its test: every
// server, answerer and probe must be gone after Close.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
