package main

import (
	"strings"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/gatewaytest"
)

// These tests hold the commands to one failure vocabulary: no gateway → 2
// within --timeout, the router said no → 3 (any result code), the router
// stopped answering → 4, a UPnP device that cannot map → 5; under --json the
// failure is a JSON object on stdout.

// TestRefusalWinsOverSilence: PCP and NAT-PMP are dropped (a router whose UDP
// 5351 is filtered) and UPnP answers 718: the definite refusal decides the
// exit code and the advice, not the silence beside it (issue 19 item 1).
func TestRefusalWinsOverSilence(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{})
	gw.SetSilent(gatewaytest.PCP, true)
	gw.SetSilent(gatewaytest.NATPMP, true)
	gw.FailAction("AddPortMapping", 718)
	gw.FailAction("AddAnyPortMapping", 718)
	r := newEnv(t).run("add", "8080", "--gateway", gw.Addr().String())
	if r.code != exitRefused || !strings.Contains(r.stderr, "external port 8080/tcp is already mapped") ||
		strings.Contains(r.stderr, "stopped answering") {
		t.Errorf("want exit 3 and the conflict's advice: %s", r)
	}

	// The issue's own case: add HOST:PORT for another host on a router in
	// secure mode that answers 718 under IGD:2 (as miniupnpd does) while
	// UDP 5351 is dropped; and the other way round, PCP refusing the
	// THIRD_PARTY option while UPnP is silent. Either refusal gives exit 3
	// with the advice for another host, not "stopped answering" (exit 4).
	for _, tc := range []struct {
		name   string
		cfg    gatewaytest.Config
		silent []string
		want   string
	}{
		{"upnp 718, 5351 silent", gatewaytest.Config{SecureMode: true, Miniupnpd: true},
			[]string{gatewaytest.PCP, gatewaytest.NATPMP}, "secure mode"},
		{"pcp UNSUPP_OPTION, upnp silent", gatewaytest.Config{},
			[]string{gatewaytest.NATPMP, gatewaytest.SSDP, gatewaytest.SOAP}, "upnpmap add 8080 192.0.2.55:8080 --relay"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gw := gatewaytest.New(t, tc.cfg)
			for _, m := range tc.silent {
				gw.SetSilent(m, true)
			}
			r := newEnv(t).run("add", "8080", "192.0.2.55:8080", "--gateway", gw.Addr().String())
			if r.code != exitRefused || !strings.Contains(r.stderr, "another host, 192.0.2.55") ||
				!strings.Contains(r.stderr, tc.want) || strings.Contains(r.stderr, "stopped answering") {
				t.Errorf("want exit 3 and the advice for another host (%q): %s", tc.want, r)
			}
			if len(gw.Mappings()) != 0 {
				t.Errorf("mappings made: %+v", gw.Mappings())
			}
		})
	}
}

// TestMapTimeoutAfterAnswer: the router answers NAT-PMP's external-address
// request, then not the MAP (miniupnpd does so for ~45 s after a request for
// a denied port). That is a timeout of a router that is there (exit 4, with
// the stall explained), not "no gateway"; and with --tcp --udp the second
// MAP is not sent into the silence.
func TestMapTimeoutAfterAnswer(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{})
	gw.SetMapSilent(gatewaytest.NATPMP, true)
	r := newEnv(t).run("add", "8080", "--tcp", "--udp", "-m", "natpmp", "--gateway", gw.Addr().String(), "--timeout", "1500ms")
	if r.code != exitTimeout {
		t.Errorf("want exit 4: %s", r)
	}
	for _, want := range []string{"answered natpmp, then stopped answering", "about 45 s", "EXTPORT of 1024 or above"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if strings.Contains(r.stderr, "no gateway answered") {
		t.Errorf("reported as no gateway:\n%s", r.stderr)
	}
	if r.took > 6*time.Second {
		t.Errorf("took %v with --timeout 1500ms", r.took)
	}
	// One external-address request and the TCP MAP with its
	// retransmissions: NAT-PMP retransmits at 250 ms, 500 ms, 1 s, so at
	// most 1 + 4; a UDP MAP after it would add more.
	if n := gw.Requests(gatewaytest.NATPMP); n > 5 {
		t.Errorf("%d NAT-PMP requests; the UDP MAP was sent after the TCP one went unanswered", n)
	}
}

// TestUnknownResultCode: a result code no RFC defines is a refusal (exit 3)
// that quotes the code, for PCP and NAT-PMP alike (issue 21 item 4).
func TestUnknownResultCode(t *testing.T) {
	for _, tt := range []struct {
		method string
		code   int
		want   string
	}{
		{gatewaytest.PCP, 99, "PCP result code 99"},
		{gatewaytest.NATPMP, 77, "NAT-PMP result code 77"},
	} {
		gw := gatewaytest.New(t, gatewaytest.Config{})
		gw.SetResult(tt.method, tt.code)
		r := newEnv(t).run("add", "8080", "-m", tt.method, "--gateway", gw.Addr().String())
		if r.code != exitRefused || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("%s: want exit 3 quoting %q: %s", tt.method, tt.want, r)
		}
	}
}

// TestAddressMismatchAdvice: PCP's ADDRESS_MISMATCH is a refusal with advice
// of its own: a NAT in between, or a wrong source address (issue 19 item 5).
func TestAddressMismatchAdvice(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{})
	gw.SetResult(gatewaytest.PCP, gatewaytest.PCPAddressMismatch)
	r := newEnv(t).run("add", "8080", "-m", "pcp", "--gateway", gw.Addr().String())
	if r.code != exitRefused || !strings.Contains(r.stderr, "ADDRESS_MISMATCH") ||
		!strings.Contains(r.stderr, "a NAT sits between this host and the router") ||
		!strings.Contains(r.stderr, "wrong source address") {
		t.Errorf("%s", r)
	}
}

// TestFaultInContext: UPnP 718 answering GetExternalIPAddress is not "port
// already mapped": the advice names the action that failed (issue 21 item 3).
func TestFaultInContext(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{DisablePCP: true, DisableNATPMP: true})
	gw.FailAction("GetExternalIPAddress", 718)
	r := newEnv(t).run("ip", "--gateway", gw.Addr().String())
	if r.code != exitRefused || !strings.Contains(r.stderr, "refused GetExternalIPAddress with UPnP error 718") ||
		strings.Contains(r.stderr, "already mapped") {
		t.Errorf("%s", r)
	}
}

// TestNoGatewayDelete: delete with nothing answering is "no gateway" (exit
// 2) within --timeout, like the other commands.
func TestNoGatewayDelete(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{})
	for _, m := range []string{gatewaytest.PCP, gatewaytest.NATPMP, gatewaytest.UPnP} {
		gw.SetSilent(m, true)
	}
	r := newEnv(t).run("delete", "8080", "--gateway", gw.Addr().String(), "--timeout", "500ms")
	if r.code != exitNoGateway || !strings.Contains(r.stderr, "no gateway answered") {
		t.Errorf("%s", r)
	}
	if r.took > 5*time.Second {
		t.Errorf("took %v with --timeout 500ms", r.took)
	}
}

// TestJSONErrors: under --json a failure is one JSON object on stdout with
// documented keys, for router failures and usage errors alike.
func TestJSONErrors(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{})
	gw.SetResult(gatewaytest.PCP, gatewaytest.PCPNotAuthorized)
	e := newEnv(t)
	r := e.run("add", "8080", "-m", "pcp", "--gateway", gw.Addr().String(), "--json")
	objs := jsonLines(t, r.stdout)
	if r.code != exitRefused || len(objs) != 1 {
		t.Fatalf("%s", r)
	}
	o := objs[0]
	if o["class"] != "refused" || o["exit_code"] != float64(exitRefused) || o["command"] != "add" ||
		!strings.Contains(o["error"].(string), "refused") || o["detail"] == "" {
		t.Errorf("error object = %v", o)
	}
	if advice, _ := o["advice"].([]any); len(advice) == 0 {
		t.Errorf("no advice: %v", o)
	}
	if r.stderr != "" {
		t.Errorf("stderr under --json: %q", r.stderr)
	}

	r = e.run("add", "http", "--json")
	objs = jsonLines(t, r.stdout)
	if r.code != exitUsage || len(objs) != 1 || objs[0]["class"] != "usage" || !strings.Contains(objs[0]["error"].(string), "not a port number") {
		t.Errorf("usage error under --json: %s", r)
	}
}

// TestRouterTextCleaned: a fault description with a bidi override, C1
// controls and 60 KB of text reaches the terminal capped and stripped, and
// --json carries it capped with no raw control byte: the library strips the
// router's controls before the CLI sees them, and encoding/json escapes any
// that would remain (issue 21 item 3).
func TestRouterTextCleaned(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{DisablePCP: true, DisableNATPMP: true})
	gw.AddMapping(gatewaytest.Mapping{Method: gatewaytest.UPnP, Protocol: "TCP", ExternalPort: 8080,
		Description: "evil\u202etxt.exe\u009b31m" + strings.Repeat("x", 60000)})
	e := newEnv(t)
	r := e.mustRun("list", "--gateway", gw.Addr().String())
	if strings.ContainsAny(r.stdout, "\u202e\u009b") {
		t.Errorf("raw controls on the terminal: %q", r.stdout)
	}
	if len(r.stdout) > 2000 {
		t.Errorf("list printed %d bytes for one entry: not capped", len(r.stdout))
	}
	r = e.mustRun("list", "--json", "--gateway", gw.Addr().String())
	if strings.ContainsAny(r.stdout, "\u202e\u009b") {
		t.Errorf("--json: raw controls in the output: %.200q", r.stdout)
	}
	if !strings.Contains(r.stdout, `"description":"evil`) {
		t.Errorf("--json lost the description: %.200q", r.stdout)
	}
	if len(r.stdout) > 8000 {
		t.Errorf("list --json printed %d bytes for one entry: not capped", len(r.stdout))
	}
}

// hostileRunes are the router-supplied runes a terminal would act on
// (gatewaytest.HostileText and HostileTextC0 carry them).
const hostileRunes = "\x1b\x07\u009b\u0085\u202e\u202c\u2066\u2069"

// TestFaultTextCleanedOnStderr: the finding itself (issue 21 item 3): a
// SOAP fault whose errorDescription is 60 KB with C1 controls and bidi
// characters, answering GetExternalIPAddress, reaches stderr capped and
// stripped, explained for the action that failed; under --json the one
// error object carries it capped, with no raw control either.
func TestFaultTextCleanedOnStderr(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{DisablePCP: true, DisableNATPMP: true})
	gw.FailActionText("GetExternalIPAddress", 718, gatewaytest.HostileText+strings.Repeat(" port in use", 5000))
	e := newEnv(t)
	r := e.run("ip", "--gateway", gw.Addr().String())
	if r.code != exitRefused || !strings.Contains(r.stderr, "GetExternalIPAddress") || strings.Contains(r.stderr, "already mapped") {
		t.Errorf("want exit 3 explaining the failed GetExternalIPAddress: %.2000s", r)
	}
	if strings.ContainsAny(r.stderr, hostileRunes) {
		t.Errorf("raw control or bidi character on stderr: %.300q", r.stderr)
	}
	if !strings.Contains(r.stderr, "txt.exe") {
		t.Errorf("the router's text is gone, not cleaned: %.2000q", r.stderr)
	}
	if len(r.stderr) > 4000 {
		t.Errorf("stderr of %d bytes for a 60 KB fault text: not capped", len(r.stderr))
	}
	r = e.run("ip", "--gateway", gw.Addr().String(), "--json")
	objs := jsonLines(t, r.stdout)
	if r.code != exitRefused || len(objs) != 1 {
		t.Fatalf("--json: want exit 3 and one object: %.2000s", r)
	}
	if strings.ContainsAny(r.stdout, hostileRunes) || len(r.stdout) > 8000 {
		t.Errorf("--json: %d bytes, raw controls %v: %.300q", len(r.stdout), strings.ContainsAny(r.stdout, hostileRunes), r.stdout)
	}
}

// TestDiscoverRouterTextCleaned: a friendly name full of C1 controls and
// bidi characters, and far too long, is shown by discover (and carried by
// --json) capped and stripped (issue 21, "Router-supplied text").
func TestDiscoverRouterTextCleaned(t *testing.T) {
	gw := gatewaytest.New(t, gatewaytest.Config{DisablePCP: true, DisableNATPMP: true,
		FriendlyName: gatewaytest.HostileText + strings.Repeat(" box", 2000), ModelName: "RT-AX\u202e88U"})
	e := newEnv(t)
	r := e.mustRun("discover", "--gateway", gw.Addr().String())
	if strings.ContainsAny(r.stdout+r.stderr, hostileRunes) {
		t.Errorf("raw control or bidi character in discover's output: %.500q", r.stdout)
	}
	if !strings.Contains(r.stdout, "txt.exe") || len(r.stdout) > 1500 {
		t.Errorf("want the device's name cleaned and capped, got %d bytes: %.1500q", len(r.stdout), r.stdout)
	}
	r = e.mustRun("discover", "--gateway", gw.Addr().String(), "--json")
	objs := jsonLines(t, r.stdout)
	if len(objs) != 1 {
		t.Fatalf("--json: %s", r)
	}
	dev, _ := objs[0]["device"].(string)
	if !strings.Contains(dev, "txt.exe") || strings.ContainsAny(dev, hostileRunes) || len([]rune(dev)) > 1024 {
		t.Errorf("--json device %d runes: %.300q", len([]rune(dev)), dev)
	}
}
