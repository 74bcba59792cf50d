package netlab

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
)

// requiredTools are the commands New runs.
var requiredTools = []string{"ip", "nft", "sysctl", "miniupnpd"}

// Available reports why a lab cannot be built here, or nil if it can: it
// needs Linux, root (network namespaces, nftables, setns), and the commands
// ip (iproute2), nft (nftables), sysctl (procps) and miniupnpd (Debian:
// miniupnpd-nftables), plus any extra tools named.
func Available(tools ...string) error {
	if runtime.GOOS != "linux" {
		return fmt.Errorf("netlab: needs Linux network namespaces (GOOS=%s)", runtime.GOOS)
	}
	if os.Geteuid() != 0 {
		return errors.New("netlab: needs root (network namespaces, nftables, setns)")
	}
	if inUserNamespace() {
		return errors.New("netlab: runs as root of a user namespace (unshare -r), which cannot create named network namespaces; run as real root")
	}
	var missing []string
	for _, tool := range append(append([]string(nil), requiredTools...), tools...) {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("netlab: missing commands %v (apt-get install iproute2 nftables procps miniupnpd-nftables miniupnpc natpmpc)", missing)
	}
	return nil
}

// Require stops the test when no lab can be built here. In CI (CI=true) that
// is a failure, so a CI machine that lost root or a package cannot pass by
// skipping; elsewhere the test is skipped with the reason.
func Require(t testing.TB, tools ...string) {
	t.Helper()
	err := Available(tools...)
	if err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%v (CI=true: the lab tests must run)", err)
	}
	t.Skipf("%v; run the lab tests as root on Linux (see package netlab)", err)
}

// inUserNamespace reports whether this process runs in a user namespace other
// than the initial one, where uid 0 is only nominal: the initial namespace maps
// the whole uid range onto itself ("0 0 4294967295").
func inUserNamespace() bool {
	b, err := os.ReadFile("/proc/self/uid_map")
	if err != nil {
		return false
	}
	f := strings.Fields(string(b))
	return len(f) < 3 || f[0] != "0" || f[1] != "0" || f[2] != "4294967295"
}
