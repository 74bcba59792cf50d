//go:build linux

package labtest

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/internal/netlab"
	"go.uber.org/goleak"
)

// TestMain runs the client mode when the test binary was re-executed in a
// lab namespace (client_test.go). Otherwise it runs the tests, then checks
// that no lab left anything behind and no goroutine leaked, and prints the
// package's total time.
func TestMain(m *testing.M) {
	if os.Getenv(clientEnv) != "" {
		os.Exit(runClient(os.Args[1:]))
	}
	start := time.Now()
	code := m.Run()
	removeCLI()
	if netlab.Available() == nil {
		if err := netlab.CheckClean(); err != nil {
			fmt.Fprintf(os.Stderr, "labtest: %v\n", err)
			code = 1
		}
	}
	if err := goleak.Find(); err != nil {
		fmt.Fprintf(os.Stderr, "labtest: %v\n", err)
		code = 1
	}
	fmt.Printf("labtest: all lab tests took %v\n", time.Since(start).Round(time.Millisecond))
	os.Exit(code)
}
