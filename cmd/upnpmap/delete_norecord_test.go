package main

import (
	"strings"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/gatewaytest"
)

// TestDeleteWithoutRecordNATPMP: a NAT-PMP mapping whose record was lost is
// deleted by the NAT-PMP delete a record would have named (this host's
// internal port), with --method natpmp and on a router that does not
// answer UPnP; the missing record and what is tried are said, and nothing
// claims a "deleted" that NAT-PMP cannot confirm.
func TestDeleteWithoutRecordNATPMP(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  gatewaytest.Config
		args []string
	}{
		{"method natpmp", gatewaytest.Config{}, []string{"-m", "natpmp"}},
		{"router without UPnP", gatewaytest.Config{DisableUPnP: true}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gw := gatewaytest.New(t, tc.cfg)
			g := []string{"--gateway", gw.Addr().String()}
			lost := newEnv(t) // made the mapping; its state file is not the one below
			lost.mustRun(append([]string{"add", "8080", "-m", "natpmp"}, g...)...)
			if _, ok := fakeEntry(gw, "tcp", 8080); !ok {
				t.Fatalf("add made no mapping: %+v", gw.Mappings())
			}
			e := newEnv(t)
			args := append(append([]string{"delete", "8080", "--tcp", "--timeout", "5s"}, g...), tc.args...)
			r := e.run(args...)
			if r.code != exitOK || !strings.Contains(r.stderr, "no record of port 8080") ||
				!strings.Contains(r.stderr, "NAT-PMP delete of this host's internal port 8080") ||
				strings.Contains(r.stdout, "deleted") || !strings.Contains(r.stdout, "NAT-PMP does not say") {
				t.Errorf("%s", r)
			}
			if _, ok := fakeEntry(gw, "tcp", 8080); ok {
				t.Errorf("the NAT-PMP mapping is still there: %+v", gw.Mappings())
			}
			j := jsonLines(t, e.mustRun(append(args, "--json")...).stdout)
			if len(j) != 1 || j[0]["method"] != "natpmp" || j[0]["result"] != "requested" {
				t.Errorf("--json: %v", j)
			}
		})
	}
}

// TestDeleteWithoutRecordBoundedByTimeout: without a record, a router that
// answers nothing costs --timeout in all, not a wait per protocol or
// method.
func TestDeleteWithoutRecordBoundedByTimeout(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{})
	for _, m := range []string{gatewaytest.PCP, gatewaytest.NATPMP, gatewaytest.SSDP, gatewaytest.SOAP} {
		gw.SetSilent(m, true)
	}
	r := newEnv(t).run("delete", "8080", "--timeout", "1s", "--gateway", gw.Addr().String())
	if r.code == exitOK || !strings.Contains(r.stderr, "no record of port 8080") {
		t.Errorf("%s", r)
	}
	if r.took > 4*time.Second {
		t.Errorf("took %v with --timeout 1s", r.took)
	}
}
