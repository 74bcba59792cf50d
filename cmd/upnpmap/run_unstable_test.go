package main

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/gatewaytest"
)

// TestRunShowsUnstable: a router whose epoch goes backwards on every answer
// looks like one rebooting in a loop; after a few re-creations the library
// raises Unstable, and run shows it — as an "unstable" JSON event saying
// why, and as a line of the human output.
func TestRunShowsUnstable(t *testing.T) {
	for _, asJSON := range []bool{true, false} {
		name := "human"
		if asJSON {
			name = "json"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel() // mostly waiting for the reset rounds' backoff
			gw := gatewaytest.New(t, gatewaytest.Config{EpochBackwards: true})
			e := newEnv(t)
			args := []string{"run", "--map", "8080", "--lifetime", "2s", "--gateway", gw.Addr().String(), "--method", "natpmp"}
			if asJSON {
				args = append(args, "--json")
			}
			p := e.start(args...)
			if asJSON {
				o := p.waitEvent("unstable", 30*time.Second)
				if o["external"] != "203.0.113.7:8080" || !strings.Contains(o["error"].(string), "keeps losing its mappings") {
					t.Errorf("unstable event %v", o)
				}
			} else {
				deadline := time.Now().Add(30 * time.Second)
				for {
					l := p.next(time.Until(deadline))
					if strings.Contains(l, " unstable ") {
						if !strings.Contains(l, "tcp 203.0.113.7:8080") || !strings.Contains(l, "keeps losing its mappings") {
							t.Errorf("unstable line %q", l)
						}
						break
					}
				}
			}
			if _, code := p.stop(syscall.SIGTERM); code != 0 {
				t.Errorf("exit code %d after SIGTERM; stderr:\n%s", code, p.stderr)
			}
		})
	}
}
