package main

import (
	"encoding/hex"
	"syscall"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/gatewaytest"
)

// TestRunRestartedAdopts: a `run` killed without cleanup leaves its
// mappings on the router and in the state file; the next `run` with the
// same --map takes them over — same external port, the PCP mapping under
// its old nonce, no new UPnP AddPortMapping — and still deletes them on
// SIGTERM.
func TestRunRestartedAdopts(t *testing.T) {
	for _, method := range []string{"pcp", "natpmp", "upnp"} {
		t.Run(method, func(t *testing.T) {
			t.Parallel()
			gw := gatewaytest.New(t, gatewaytest.Config{PCPMinLifetime: -1})
			e := newEnv(t)
			args := []string{"run", "--map", "udp:27015:27016", "--lifetime", "60s",
				"--gateway", gw.Addr().String(), "--method", method, "--json"}
			first := e.start(args...)
			first.waitEvent("mapped", 10*time.Second)
			recs := e.readState().Mappings
			if len(recs) != 1 {
				t.Fatalf("state file holds %d records while running, want 1", len(recs))
			}
			saved := recs[0]
			first.stop(syscall.SIGKILL) // no cleanup: the mapping stays

			maps, adds := gw.Requests(gatewaytest.PCP), gw.Requests("AddPortMapping")
			second := e.start(args...)
			o := second.waitEvent("mapped", 10*time.Second)
			if o["external"] != saved.External.String() {
				t.Errorf("restarted run mapped %v, want %v", o["external"], saved.External)
			}
			ms := gw.Mappings()
			if len(ms) != 1 || ms[0].ExternalPort != saved.External.Port() {
				t.Fatalf("router table after the restart: %+v, want the one old mapping", ms)
			}
			switch method {
			case "pcp":
				if got := hex.EncodeToString(ms[0].Nonce[:]); got != saved.Nonce {
					t.Errorf("router holds nonce %s, want the saved %s", got, saved.Nonce)
				}
				if n := gw.Requests(gatewaytest.PCP) - maps; n != 1 {
					t.Errorf("restarted run sent %d PCP requests, want the one renewal", n)
				}
			case "upnp":
				if n := gw.Requests("AddPortMapping") - adds; n != 0 {
					t.Errorf("restarted run sent %d AddPortMapping, want none", n)
				}
			}
			if _, code := second.stop(syscall.SIGTERM); code != 0 {
				t.Errorf("exit code %d after SIGTERM; stderr:\n%s", code, second.stderr)
			}
			if left := gw.Mappings(); len(left) != 0 {
				t.Errorf("router table after SIGTERM: %+v", left)
			}
		})
	}
}

// TestRunDoesNotAdoptFromLiveRun: a second `run` for the same --map while
// the first one still lives does not take its PCP mapping over (two
// renewers, and the first to exit would delete it under the other): it asks
// for its own, which the router refuses, and the first run's mapping stays
// as it was.
func TestRunDoesNotAdoptFromLiveRun(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{PCPMinLifetime: -1})
	e := newEnv(t)
	args := []string{"run", "--map", "udp:27025", "--lifetime", "60s",
		"--gateway", gw.Addr().String(), "--method", "pcp", "--json"}
	first := e.start(args...)
	first.waitEvent("mapped", 10*time.Second)
	saved := e.readState().Mappings
	if len(saved) != 1 {
		t.Fatalf("state file holds %d records while running, want 1", len(saved))
	}

	second := e.start(args...)
	select {
	case <-second.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("second run still running; stderr:\n%s", second.stderr)
	}
	if second.code == 0 {
		t.Errorf("second run exited 0; it cannot have the port the first run holds")
	}
	ms := gw.Mappings()
	if len(ms) != 1 || hex.EncodeToString(ms[0].Nonce[:]) != saved[0].Nonce {
		t.Errorf("router table with the first run alive: %+v, want its one mapping under nonce %s", ms, saved[0].Nonce)
	}
	if _, code := first.stop(syscall.SIGTERM); code != 0 {
		t.Errorf("first run: exit code %d after SIGTERM; stderr:\n%s", code, first.stderr)
	}
}
