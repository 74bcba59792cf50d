package main

import (
	"strings"
	"testing"

	"github.com/upnpmap/upnpmap/gatewaytest"
)

// TestDeleteOnlyWhatExisted: "deleted" is printed for mappings that existed,
// and a delete of the other protocol says there was none (issue 18 item 5).
// Without a record the router's UPnP table decides, and the user is told
// the record is missing and what is tried instead (issue 21 item 4).
func TestDeleteOnlyWhatExisted(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{})
	g := []string{"--gateway", gw.Addr().String()}
	gw.AddMapping(gatewaytest.Mapping{Method: gatewaytest.UPnP, Protocol: "TCP", ExternalPort: 8080})
	e := newEnv(t)

	r := e.run(append([]string{"delete", "8080", "--udp"}, g...)...)
	if r.code != exitRefused || strings.Contains(r.stdout, "deleted") ||
		!strings.Contains(r.stderr, "the router has no mapping of external port 8080/udp") {
		t.Errorf("UDP delete when only TCP exists: %s", r)
	}
	if !strings.Contains(r.stderr, "no record of port 8080") || !strings.Contains(r.stderr, "UPnP table") {
		t.Errorf("the missing record and what is tried are not said:\n%s", r.stderr)
	}
	if _, ok := fakeEntry(gw, "tcp", 8080); !ok {
		t.Fatal("the TCP mapping went away")
	}
	r = e.mustRun(append([]string{"delete", "8080"}, g...)...)
	if strings.TrimSpace(r.stdout) != "deleted tcp port 8080 (upnp)" {
		t.Errorf("delete without --tcp/--udp: %s", r)
	}
	if _, ok := fakeEntry(gw, "tcp", 8080); ok {
		t.Error("the TCP mapping is still there")
	}
	r = e.run(append([]string{"delete", "8080"}, g...)...)
	if r.code != exitRefused || strings.Contains(r.stdout, "deleted") || !strings.Contains(r.stderr, "8080/tcp or udp") {
		t.Errorf("delete of nothing: %s", r)
	}
}

// TestDeleteWithoutRecordPCP: with --method pcp and no record, nothing can
// be sent (NAT-PMP can: TestDeleteWithoutRecordNATPMP); the message says so
// instead of blaming the router's arguments (issue 19 item 5, issue 21 item
// 4).
func TestDeleteWithoutRecordPCP(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{})
	for _, m := range []string{"pcp"} {
		r := newEnv(t).run("delete", "8080", "-m", m, "--gateway", gw.Addr().String())
		if r.code != exitUsage || !strings.Contains(r.stderr, "no record of tcp/udp port 8080") ||
			!strings.Contains(r.stderr, "nothing was sent") || strings.Contains(r.stderr, "rejected") ||
			strings.Contains(r.stderr, "below 1024") {
			t.Errorf("-m %s: %s", m, r)
		}
	}
	if n := gw.Requests(gatewaytest.PCP) + gw.Requests(gatewaytest.NATPMP) + gw.Requests(gatewaytest.UPnP); n != 0 {
		t.Errorf("%d requests sent", n)
	}
}

// TestDeleteRecordedWithOtherMethod: a PCP mapping deleted with --method
// upnp is tried over UPnP as asked, with a warning, and never explained as
// "ports below 1024" (issue 18 item 5).
func TestDeleteRecordedWithOtherMethod(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{})
	g := []string{"--gateway", gw.Addr().String()}
	e := newEnv(t)
	e.mustRun(append([]string{"add", "8080", "-m", "pcp"}, g...)...)
	r := e.run(append([]string{"delete", "8080", "-m", "upnp"}, g...)...)
	if r.code != exitOK || strings.Contains(r.stderr, "below 1024") || !strings.Contains(r.stderr, "was made with pcp") ||
		strings.TrimSpace(r.stdout) != "deleted tcp port 8080 (upnp; made with pcp)" {
		t.Errorf("%s", r)
	}
	if _, ok := fakeEntry(gw, "tcp", 8080); ok {
		t.Errorf("delete said ok, but the mapping is still there: %s", r)
	}
	// Without --method, the record's method deletes it.
	e.run(append([]string{"add", "8081", "-m", "pcp"}, g...)...)
	r = e.mustRun(append([]string{"delete", "8081"}, g...)...)
	if strings.TrimSpace(r.stdout) != "deleted tcp port 8081 (pcp)" {
		t.Errorf("%s", r)
	}
}

// TestDeleteSecureModeAdvice: a delete the router refuses as not authorized
// gets advice about deleting, not add's advice.
func TestDeleteSecureModeAdvice(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{})
	gw.AddMapping(gatewaytest.Mapping{Method: gatewaytest.UPnP, Protocol: "TCP", ExternalPort: 8080})
	gw.FailAction("DeletePortMapping", 606)
	r := newEnv(t).run("delete", "8080", "--tcp", "--gateway", gw.Addr().String())
	if r.code != exitRefused || !strings.Contains(r.stderr, "refused to delete external port 8080/tcp") ||
		!strings.Contains(r.stderr, "only the host that made a mapping") || strings.Contains(r.stderr, "--relay") {
		t.Errorf("%s", r)
	}
}
