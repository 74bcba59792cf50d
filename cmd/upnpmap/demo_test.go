package main

import (
	"os"
	"strings"
	"testing"
)

// TestDemo: the demo runs on a machine with no router (this test runs in a
// namespace with only loopback), shows the four steps with their output, and
// leaves nothing behind in the user's cache.
func TestDemo(t *testing.T) {
	e := newEnv(t)
	r := e.mustRun("demo")
	// The one line on stderr is add's warning that nothing listens on 8080
	// yet (the demo has no application); anything else is a fault.
	if w := "warning: nothing listens on tcp port 8080 here yet"; !strings.HasPrefix(r.stderr, w) || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("stderr, want only %q: %s", w, r.stderr)
	}
	want := []string{
		"$ upnpmap discover --gateway 127.",
		"methods   pcp, natpmp, upnp",
		"external  203.0.113.7",
		"$ upnpmap add 8080 --lifetime 1h --gateway 127.",
		"203.0.113.7:8080",
		"$ upnpmap list --gateway 127.",
		"OURS",
		"$ upnpmap delete 8080 --gateway 127.",
		"deleted tcp port 8080 (pcp)",
		"table is empty again",
		"upnpmap gateway",
	}
	at := 0
	for _, w := range want {
		i := strings.Index(r.stdout[at:], w)
		if i < 0 {
			t.Errorf("demo output lacks %q (in order):\n%s", w, r.stdout)
			continue
		}
		at += i + len(w)
	}
	if _, err := os.Stat(e.statePath()); !os.IsNotExist(err) {
		t.Errorf("the demo wrote the user's state file (%v)", err)
	}
	v := e.mustRun("demo", "-v")
	if !strings.Contains(v.stderr, "level=DEBUG") || !strings.Contains(v.stderr, "t=+") {
		t.Errorf("demo -v shows no protocol steps with timings:\n%s", v.stderr)
	}
}
