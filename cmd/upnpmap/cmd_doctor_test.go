package main

import (
	"bytes"
	"encoding/json"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/upnpmap/upnpmap/gatewaytest"
)

// doctorService listens on 127.0.0.1, where a loopback gateway's mappings
// point, and returns its port.
func doctorService(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// doctorClosedPort is a TCP port nothing listens on.
func doctorClosedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

func TestDoctorPortCanWork(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{})
	r := newEnv(t).run("doctor", doctorService(t), "--gateway", gw.Addr().String())
	if r.code != exitOK || !strings.Contains(r.stdout, "the port can work") || !strings.Contains(r.stdout, "OK") {
		t.Errorf("%s", r)
	}
}

// --json prints one object, and a port nothing listens on exits 7 with
// the finding and its fix in it.
func TestDoctorJSONNothingListening(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{})
	r := newEnv(t).run("doctor", doctorClosedPort(t), "--json", "--gateway", gw.Addr().String())
	if r.code != doctorExitBlocked || r.stderr != "" {
		t.Fatalf("%s", r)
	}
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	var rep struct {
		NAT         string `json:"nat"`
		PortCanWork bool   `json:"port_can_work"`
		Findings    []struct{ Code, Severity, What, Fix string }
	}
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("%v\n%s", err, r)
	}
	if dec.More() {
		t.Errorf("more than one JSON value:\n%s", r.stdout)
	}
	found := false
	for _, f := range rep.Findings {
		found = found || (f.Code == "NOT_LISTENING" && f.Fix != "")
	}
	if rep.PortCanWork || rep.NAT != "OK" || !found {
		t.Errorf("report %+v", rep)
	}
}

func TestDoctorNoGateway(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{})
	addr := gw.Addr().String()
	gw.Close()
	r := newEnv(t).run("doctor", "--gateway", addr)
	if r.code != exitNoGateway || !strings.Contains(r.stdout, "NO_GATEWAY") {
		t.Errorf("%s", r)
	}
}

func TestDoctorBridged(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{})
	gw.SetConnectionType("IP_Bridged")
	r := newEnv(t).run("doctor", doctorService(t), "--gateway", gw.Addr().String())
	if r.code != doctorExitBlocked || !strings.Contains(r.stdout, "BRIDGED") || !strings.Contains(r.stdout, "fix: ") {
		t.Errorf("%s", r)
	}
}

// A UPnP mapping left by a killed program is found, and removed with
// --cleanup; a recorded mapping the router lost (it rebooted) is reported,
// and --cleanup drops its record from the state file.
func TestDoctorCleanup(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{})
	g := []string{"--gateway", gw.Addr().String()}
	e := newEnv(t)
	e.mustRun(append([]string{"add", "9000", "-m", "upnp"}, g...)...)
	gw.Reboot()
	leftPort, _ := strconv.Atoi(doctorClosedPort(t))
	gw.AddMapping(gatewaytest.Mapping{Method: gatewaytest.UPnP, ExternalPort: 41001,
		InternalAddr: netip.MustParseAddr("127.0.0.1"), InternalPort: uint16(leftPort), Description: defaultDescription})

	r := e.run(append([]string{"doctor"}, g...)...)
	if !strings.Contains(r.stdout, "STALE_MAPPINGS") || !strings.Contains(r.stdout, "RECORDED_GONE") {
		t.Fatalf("%s", r)
	}
	if len(gw.Mappings()) != 1 || len(e.readState().Mappings) != 1 {
		t.Fatalf("doctor without --cleanup changed something: table %+v, state %+v", gw.Mappings(), e.readState().Mappings)
	}

	r = e.run(append([]string{"doctor", "--cleanup"}, g...)...)
	if !strings.Contains(r.stdout, "removed") {
		t.Errorf("%s", r)
	}
	if n := len(gw.Mappings()); n != 0 {
		t.Errorf("%d mappings left on the router after --cleanup", n)
	}
	if n := len(e.readState().Mappings); n != 0 {
		t.Errorf("%d records left in the state file after --cleanup", n)
	}
	r = e.run(append([]string{"doctor", "--json"}, g...)...)
	if bytes.Contains([]byte(r.stdout), []byte(`"stale"`)) {
		t.Errorf("still stale after cleanup: %s", r)
	}
}
