package upnpmap

import (
	"context"
	"encoding/json"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/gatewaytest"
	"github.com/upnpmap/upnpmap/internal/safetext"
	"github.com/upnpmap/upnpmap/reach"
)

// doctorGateway is testGateway with the interface list injected: the
// tests never read the machine's interfaces. lo holds the address the
// Client uses towards a loopback gateway; wg0 and docker0 must be passed
// over.
func doctorGateway(t *testing.T, cfg gatewaytest.Config) (*gatewaytest.Gateway, *Client) {
	t.Helper()
	gw, c := testGateway(t, cfg)
	c.ifaces = func() ([]ifacePrefixes, error) {
		return []ifacePrefixes{
			{ifi: net.Interface{Name: "lo", Flags: net.FlagUp | net.FlagLoopback}, prefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/8")}},
			{ifi: net.Interface{Name: "wg0", Flags: net.FlagUp | net.FlagPointToPoint}, prefixes: []netip.Prefix{netip.MustParsePrefix("10.8.0.2/24")}},
			{ifi: net.Interface{Name: "docker0", Flags: net.FlagUp | net.FlagMulticast}, prefixes: []netip.Prefix{netip.MustParsePrefix("172.17.0.1/16")}},
			{ifi: net.Interface{Name: "eth1", Flags: net.FlagMulticast}, prefixes: nil},
		}, nil
	}
	return gw, c
}

// tcpService listens on 127.0.0.1 (the address a loopback gateway's
// mappings point at) and returns its port.
func tcpService(t *testing.T) uint16 {
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
	return uint16(ln.Addr().(*net.TCPAddr).Port)
}

// freePort returns a TCP port nothing listens on (it was just closed).
func freePort(t *testing.T) uint16 {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := uint16(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	return p
}

func diagnose(t *testing.T, c *Client, o DiagnoseOptions) *Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if o.goos == "" {
		o.goos = "linux"
	}
	r, err := c.Diagnose(ctx, o)
	if err != nil {
		t.Fatalf("Diagnose: %v", err)
	}
	return r
}

func finding(r *Report, code string) *Finding {
	for i := range r.Findings {
		if r.Findings[i].Code == code {
			return &r.Findings[i]
		}
	}
	return nil
}

// wantFinding fails unless the report has the finding, as an error, with
// a fix that mentions fixWord.
func wantFinding(t *testing.T, r *Report, code, fixWord string) {
	t.Helper()
	f := finding(r, code)
	if f == nil {
		t.Fatalf("no %s finding; findings %+v", code, r.Findings)
	}
	if f.Severity != SeverityError {
		t.Errorf("%s severity %q, want error", code, f.Severity)
	}
	if !strings.Contains(f.Fix, fixWord) {
		t.Errorf("%s fix %q does not mention %q", code, f.Fix, fixWord)
	}
	if r.PortCanWork {
		t.Errorf("PortCanWork with a %s finding", code)
	}
}

func TestDiagnoseHealthy(t *testing.T) {
	_, c := doctorGateway(t, gatewaytest.Config{})
	port := tcpService(t)
	r := diagnose(t, c, DiagnoseOptions{Port: port})
	if !r.PortCanWork || r.NAT != NATOK {
		t.Fatalf("PortCanWork %v, NAT %s; findings %+v", r.PortCanWork, r.NAT, r.Findings)
	}
	for _, m := range r.Methods {
		if !m.Answered || m.Elapsed <= 0 {
			t.Errorf("method %+v: want answered with a round trip", m)
		}
	}
	if len(r.Methods) != 3 {
		t.Errorf("methods %+v, want pcp, natpmp, upnp", r.Methods)
	}
	if r.External != gatewaytest.DefaultExternalAddr {
		t.Errorf("external %v, want %v", r.External, gatewaytest.DefaultExternalAddr)
	}
	if d := r.Device; d == nil || d.ConnectionType != "IP_Routed" || d.ConnectionStatus != "Connected" || d.LinkStatus != "Up" {
		t.Errorf("device %+v", r.Device)
	}
	if r.Listening == nil || !r.Listening.Listening {
		t.Errorf("listening %+v, want the service found", r.Listening)
	}
	reasons := map[string]string{}
	for _, n := range r.Interfaces {
		reasons[n.Name] = n.Reason
		if n.Chosen != (n.Name == "lo") {
			t.Errorf("interface %s chosen %v", n.Name, n.Chosen)
		}
	}
	for name, want := range map[string]string{"wg0": "tunnel", "docker0": "bridge", "eth1": "down", "lo": "127.0.0.1"} {
		if !strings.Contains(reasons[name], want) {
			t.Errorf("interface %s reason %q, want it to say %q", name, reasons[name], want)
		}
	}
}

func TestDiagnoseBridged(t *testing.T) {
	gw, c := doctorGateway(t, gatewaytest.Config{})
	gw.SetConnectionType("IP_Bridged")
	r := diagnose(t, c, DiagnoseOptions{Port: tcpService(t)})
	wantFinding(t, r, "BRIDGED", "upstream")
	if r.Device.ConnectionType != "IP_Bridged" {
		t.Errorf("connection type %q", r.Device.ConnectionType)
	}
}

func TestDiagnoseDisconnected(t *testing.T) {
	gw, c := doctorGateway(t, gatewaytest.Config{})
	gw.SetConnectionStatus("Disconnected")
	r := diagnose(t, c, DiagnoseOptions{Port: tcpService(t)})
	wantFinding(t, r, "NOT_CONNECTED", "uplink")
	if r.NAT != NATNotConnected {
		t.Errorf("NAT %s", r.NAT)
	}
}

func TestDiagnoseLinkDown(t *testing.T) {
	gw, c := doctorGateway(t, gatewaytest.Config{})
	gw.SetLinkStatus("Down")
	r := diagnose(t, c, DiagnoseOptions{})
	wantFinding(t, r, "NOT_CONNECTED", "uplink")
	if r.Device.LinkStatus != "Down" || !strings.Contains(finding(r, "NOT_CONNECTED").What, "link Down") {
		t.Errorf("link %q, finding %+v", r.Device.LinkStatus, finding(r, "NOT_CONNECTED"))
	}
}

// A NAT-PMP/PCP-only router without an uplink answers NETWORK_FAILURE.
func TestDiagnoseNoUplinkNATPMP(t *testing.T) {
	gw, c := doctorGateway(t, gatewaytest.Config{DisableUPnP: true})
	gw.SetExternalAddr(netip.IPv4Unspecified())
	r := diagnose(t, c, DiagnoseOptions{})
	wantFinding(t, r, "NOT_CONNECTED", "uplink")
}

func TestDiagnoseCGNAT(t *testing.T) {
	_, c := doctorGateway(t, gatewaytest.Config{ExternalAddr: netip.MustParseAddr("100.64.12.34")})
	r := diagnose(t, c, DiagnoseOptions{Port: tcpService(t)})
	wantFinding(t, r, "CGNAT", "public")
	if r.NAT != NATCGNAT {
		t.Errorf("NAT %s", r.NAT)
	}
}

func TestDiagnoseDoubleNAT(t *testing.T) {
	_, c := doctorGateway(t, gatewaytest.Config{ExternalAddr: netip.MustParseAddr("192.168.0.23")})
	r := diagnose(t, c, DiagnoseOptions{Port: tcpService(t)})
	wantFinding(t, r, "DOUBLE_NAT", "192.168.0.23")
	if r.NAT != NATDouble {
		t.Errorf("NAT %s", r.NAT)
	}
}

// The checker on loopback sees 127.0.0.1, not the router's public-looking
// external address: a NAT upstream.
func TestDiagnoseUpstreamNAT(t *testing.T) {
	_, c := doctorGateway(t, gatewaytest.Config{})
	srv := &reach.Server{Addr: "127.0.0.1:0"}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	r := diagnose(t, c, DiagnoseOptions{Port: tcpService(t), Checker: srv.LocalAddr().String()})
	wantFinding(t, r, "UPSTREAM_NAT", "public")
	if r.NAT != NATUpstream || r.Observed != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("NAT %s, observed %v", r.NAT, r.Observed)
	}
}

func TestDiagnoseNoGateway(t *testing.T) {
	gw, c := doctorGateway(t, gatewaytest.Config{})
	gw.Close() // its address stays ours and answers nothing
	r := diagnose(t, c, DiagnoseOptions{})
	wantFinding(t, r, "NO_GATEWAY", "--gateway")
	if r.NAT != NATNoGateway {
		t.Errorf("NAT %s", r.NAT)
	}
	for _, m := range r.Methods {
		if m.Answered || m.Error == "" {
			t.Errorf("method %+v: want a failure with its error", m)
		}
	}
}

func TestDiagnoseNothingListening(t *testing.T) {
	_, c := doctorGateway(t, gatewaytest.Config{})
	port := freePort(t)
	r := diagnose(t, c, DiagnoseOptions{Port: port})
	wantFinding(t, r, "NOT_LISTENING", "start the service")
	if r.Listening.Listening || r.Listening.Addr.Port() != port {
		t.Errorf("listening %+v", r.Listening)
	}
}

func TestDiagnoseUDPListening(t *testing.T) {
	_, c := doctorGateway(t, gatewaytest.Config{})
	pc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	port := uint16(pc.LocalAddr().(*net.UDPAddr).Port)
	r := diagnose(t, c, DiagnoseOptions{Port: port, Protocol: UDP})
	if !r.Listening.Listening || finding(r, "NOT_LISTENING") != nil || r.Listening.Limits == "" {
		t.Errorf("held UDP port: listening %+v, findings %+v", r.Listening, r.Findings)
	}
	pc.Close()
	r = diagnose(t, c, DiagnoseOptions{Port: port, Protocol: UDP})
	wantFinding(t, r, "NOT_LISTENING", "start the service")
}

func TestDiagnoseStaleMappingCleanup(t *testing.T) {
	gw, c := doctorGateway(t, gatewaytest.Config{})
	local := netip.MustParseAddr("127.0.0.1")
	gw.AddMapping(gatewaytest.Mapping{Method: gatewaytest.UPnP, ExternalPort: 41001, InternalAddr: local, InternalPort: freePort(t), Description: DefaultDescription})
	// A live program's mapping: its service answers on the internal port.
	gw.AddMapping(gatewaytest.Mapping{Method: gatewaytest.UPnP, ExternalPort: 41006, InternalAddr: local, InternalPort: tcpService(t), Description: DefaultDescription})
	gw.AddMapping(gatewaytest.Mapping{Method: gatewaytest.UPnP, ExternalPort: 41002, InternalAddr: local, InternalPort: 8081, Description: "someone else's"})
	gw.AddMapping(gatewaytest.Mapping{Method: gatewaytest.UPnP, ExternalPort: 41003, InternalPort: 8082, Description: DefaultDescription}) // another host
	gw.AddMapping(gatewaytest.Mapping{Method: gatewaytest.UPnP, ExternalPort: 41004, InternalAddr: local, InternalPort: 8083, Description: DefaultDescription})
	recorded := []RecordedMapping{
		{Method: UPnP, Protocol: TCP, External: netip.AddrPortFrom(gatewaytest.DefaultExternalAddr, 41004), Internal: netip.AddrPortFrom(local, 8083)},
		{Method: UPnP, Protocol: TCP, External: netip.AddrPortFrom(gatewaytest.DefaultExternalAddr, 41005), Internal: netip.AddrPortFrom(local, 8084)},
		// Another router's record: neither gone nor holding anything here.
		{Gateway: netip.MustParseAddr("192.0.2.1"), Method: UPnP, Protocol: TCP, External: netip.AddrPortFrom(gatewaytest.DefaultExternalAddr, 41007)},
	}

	r := diagnose(t, c, DiagnoseOptions{Recorded: recorded})
	var got []string
	for _, s := range r.Stale {
		got = append(got, s.Kind+":"+s.External.String())
	}
	ext := gatewaytest.DefaultExternalAddr.String()
	want := []string{StaleLeftBehind + ":" + ext + ":41001", StaleGone + ":" + ext + ":41005"}
	if !slices.Equal(got, want) {
		t.Fatalf("stale %v, want %v", got, want)
	}
	if f := finding(r, "STALE_MAPPINGS"); f == nil || !strings.Contains(f.Fix, "--cleanup") {
		t.Errorf("STALE_MAPPINGS finding %+v", f)
	}
	if len(gw.Mappings()) != 5 {
		t.Fatalf("without Cleanup the table changed: %+v", gw.Mappings())
	}

	r = diagnose(t, c, DiagnoseOptions{Recorded: recorded, Cleanup: true})
	if len(r.Stale) == 0 || !r.Stale[0].Removed || finding(r, "STALE_REMOVED") == nil {
		t.Errorf("after cleanup: stale %+v, findings %+v", r.Stale, r.Findings)
	}
	var ports []uint16
	for _, m := range gw.Mappings() {
		ports = append(ports, m.ExternalPort)
	}
	if !slices.Equal(ports, []uint16{41002, 41003, 41004, 41006}) {
		t.Errorf("table after cleanup holds %v, want 41002 41003 41004 41006", ports)
	}
}

func TestDiagnoseQuirksOfDevice(t *testing.T) {
	_, c := doctorGateway(t, gatewaytest.Config{ModelName: "FRITZ!Box 7430"})
	r := diagnose(t, c, DiagnoseOptions{})
	var ids []string
	for _, q := range r.Device.Quirks {
		ids = append(ids, q.ID)
	}
	if !slices.Equal(ids, []string{"Q07", "Q38"}) {
		t.Errorf("quirks %v, want Q07 Q38", ids)
	}
	_, c = doctorGateway(t, gatewaytest.Config{})
	if r := diagnose(t, c, DiagnoseOptions{}); len(r.Device.Quirks) != 0 {
		t.Errorf("a device the catalogue does not name got quirks %+v", r.Device.Quirks)
	}
}

func TestDiagnoseRouterTextCleaned(t *testing.T) {
	_, c := doctorGateway(t, gatewaytest.Config{FriendlyName: gatewaytest.HostileText, ModelName: "RT-AX\u202e88U\u009b" + strings.Repeat("9", 500)})
	r := diagnose(t, c, DiagnoseOptions{})
	if strings.ContainsAny(r.Device.FriendlyName, "\u009b\u202e\u0085") || r.Device.FriendlyName == "" {
		t.Errorf("friendly name %q not cleaned", r.Device.FriendlyName)
	}
	// The model string too, and capped (issue 21: doctor output).
	if m := r.Device.ModelName; strings.ContainsAny(m, "\u009b\u202e") || !strings.HasPrefix(m, "RT-AX88U") || len([]rune(m)) > safetext.Short {
		t.Errorf("model name %q (%d runes) not cleaned and capped", m, len([]rune(m)))
	}
}

func TestDiagnosePlatformHints(t *testing.T) {
	_, c := doctorGateway(t, gatewaytest.Config{})
	for goos, code := range map[string]string{"darwin": "MACOS_LOCAL_NETWORK", "windows": "WINDOWS_FIREWALL"} {
		r := diagnose(t, c, DiagnoseOptions{goos: goos})
		if f := finding(r, code); f == nil || f.Fix == "" || f.Severity != SeverityInfo {
			t.Errorf("%s: finding %s = %+v", goos, code, f)
		}
	}
	if r := diagnose(t, c, DiagnoseOptions{goos: "linux"}); finding(r, "MACOS_LOCAL_NETWORK") != nil || finding(r, "WINDOWS_FIREWALL") != nil {
		t.Errorf("linux got another platform's hint: %+v", r.Findings)
	}
}

func TestDiagnoseBadProtocol(t *testing.T) {
	_, c := doctorGateway(t, gatewaytest.Config{})
	if _, err := c.Diagnose(context.Background(), DiagnoseOptions{Protocol: "sctp"}); err == nil {
		t.Fatal("protocol sctp accepted")
	}
}

// The JSON keys are the documented ones.
func TestReportJSONKeys(t *testing.T) {
	_, c := doctorGateway(t, gatewaytest.Config{})
	r := diagnose(t, c, DiagnoseOptions{Port: freePort(t)})
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"port", "protocol", "interfaces", "gateway", "local", "methods", "device", "external", "nat", "listening", "findings", "port_can_work", "elapsed_ms"} {
		if _, ok := m[k]; !ok {
			t.Errorf("key %q missing from %s", k, b)
		}
	}
	var methods []map[string]any
	if err := json.Unmarshal(m["methods"], &methods); err != nil || len(methods) == 0 || methods[0]["elapsed_ms"] == nil || methods[0]["method"] == nil {
		t.Errorf("methods %s", m["methods"])
	}
}
