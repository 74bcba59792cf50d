package discovery

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

func mustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestFetchTypicalIGD(t *testing.T) {
	srv := serveHTTP(t, "127.0.0.1:0", xmlHandler(igdDescription))
	loc := mustURL(t, "http://"+srv.String()+"/rootDesc.xml")
	root, err := Fetch(context.Background(), loc, srv.Addr(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if root.Device.FriendlyName != "Test Router" || root.Device.ModelName != "Fake IGD" || root.SpecVersion != "1.1" {
		t.Errorf("root device %+v spec %q", root.Device, root.SpecVersion)
	}
	svcs := root.Services("urn:schemas-upnp-org:service:WANIPConnection:2", "urn:schemas-upnp-org:service:WANIPConnection:1")
	if len(svcs) != 1 {
		t.Fatalf("services %+v", svcs)
	}
	base := "http://" + srv.String()
	if got := svcs[0].ControlURL.String(); got != base+"/ctl/IPConn" {
		t.Errorf("ControlURL %s", got)
	}
	if got := svcs[0].SCPDURL.String(); got != base+"/WANIPCn.xml" {
		t.Errorf("SCPDURL %s", got)
	}
	if got := svcs[0].EventSubURL.String(); got != base+"/evt/IPConn" {
		t.Errorf("EventSubURL %s", got)
	}
}

// The brief's SSRF scenario, end to end: a device on 127.0.0.2 answers the
// search with a LOCATION on 127.0.0.1, where a server counts its hits. The
// fetch goes to 127.0.0.2 (same port and path), and 127.0.0.1 sees nothing.
// The description served by the device then names 127.0.0.1 in a control
// URL, which is pinned to 127.0.0.2 as well.
func TestFetchNeverLeavesTheResponder(t *testing.T) {
	victim := &hitCounter{}
	vAddr := serveHTTP(t, "127.0.0.1:0", victim)
	port := strconv.Itoa(int(vAddr.Port()))
	foreign := "http://127.0.0.1:" + port

	desc := strings.Replace(igdDescription, "<controlURL>/ctl/IPConn</controlURL>", "<controlURL>"+foreign+"/ctl/IPConn</controlURL>", 1)
	desc = strings.Replace(desc, "<SCPDURL>/WANIPCn.xml</SCPDURL>", "<SCPDURL>http://[::1]:"+port+"/WANIPCn.xml</SCPDURL>", 1)
	device := &hitCounter{h: xmlHandler(desc)}
	serveHTTP(t, "127.0.0.2:"+port, device) // same port, the responder's address

	resp := newResponder(t, "127.0.0.2:0", 0, echoST(foreign+"/desc.xml", "uuid:evil"))
	s := &Searcher{Unicast: []netip.AddrPort{resp.Addr}, Targets: []string{TargetIGD1}}
	got, _ := searchUntil(t, s, 1, 5*time.Second)
	if len(got) != 1 {
		t.Fatal("no answer")
	}
	r := got[0]
	if r.OriginalLocation != foreign+"/desc.xml" {
		t.Fatalf("OriginalLocation %q", r.OriginalLocation)
	}
	root, err := Fetch(context.Background(), r.Location, r.From.Addr(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if victim.Hits() != 0 {
		t.Errorf("the foreign host got %d requests", victim.Hits())
	}
	if device.Hits() != 1 {
		t.Errorf("the responder got %d requests, want 1", device.Hits())
	}
	svc := root.Services("urn:schemas-upnp-org:service:WANIPConnection:2")[0]
	if want := "http://127.0.0.2:" + port + "/ctl/IPConn"; svc.ControlURL.String() != want {
		t.Errorf("ControlURL %s, want %s", svc.ControlURL, want)
	}
	if want := "http://127.0.0.2:" + port + "/WANIPCn.xml"; svc.SCPDURL.String() != want {
		t.Errorf("SCPDURL %s, want %s", svc.SCPDURL, want)
	}

	// Without a server at the responder's address the fetch fails rather
	// than going anywhere else.
	victim2 := &hitCounter{}
	v2 := serveHTTP(t, "127.0.0.1:0", victim2)
	loc := mustURL(t, "http://"+v2.String()+"/desc.xml")
	if _, err := Fetch(context.Background(), loc, netip.MustParseAddr("127.0.0.3"), nil); err == nil {
		t.Error("fetch succeeded with no server at the responder")
	}
	if victim2.Hits() != 0 {
		t.Errorf("the foreign host got %d requests", victim2.Hits())
	}
}

func TestFetchRefusesRedirects(t *testing.T) {
	target := &hitCounter{h: xmlHandler(igdDescription)}
	tAddr := serveHTTP(t, "127.0.0.1:0", target)
	for _, code := range []int{http.StatusFound, http.StatusMovedPermanently, http.StatusTemporaryRedirect} {
		redirector := serveHTTP(t, "127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// Same host, so even the host policy would allow it: the
			// redirect itself is refused.
			http.Redirect(w, r, "http://"+tAddr.String()+"/rootDesc.xml", code)
		}))
		_, err := Fetch(context.Background(), mustURL(t, "http://"+redirector.String()+"/d.xml"), redirector.Addr(), nil)
		if !errors.Is(err, ErrRedirect) {
			t.Errorf("status %d: %v, want ErrRedirect", code, err)
		}
	}
	if target.Hits() != 0 {
		t.Errorf("redirect target got %d requests", target.Hits())
	}
}

func TestFetchSizeLimit(t *testing.T) {
	pad := "<!--" + strings.Repeat("x", 300<<10) + "-->"
	big := strings.Replace(igdDescription, "<device>", "<device>"+pad, 1)
	withLength := serveHTTP(t, "127.0.0.1:0", xmlHandler(big))
	chunked := serveHTTP(t, "127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Written in pieces with flushes: no Content-Length.
		for i := 0; i < len(big); i += 4096 {
			w.Write([]byte(big[i:min(i+4096, len(big))]))
			w.(http.Flusher).Flush()
		}
	}))
	for name, srv := range map[string]netip.AddrPort{"content-length": withLength, "chunked": chunked} {
		_, err := Fetch(context.Background(), mustURL(t, "http://"+srv.String()+"/d.xml"), srv.Addr(), nil)
		if !errors.Is(err, ErrTooLarge) || !errors.Is(err, ErrMalformed) || !errors.Is(err, ErrUnusableDevice) {
			t.Errorf("%s: %v, want ErrTooLarge", name, err)
		}
	}
	// A raised limit lets the same document through.
	root, err := Fetch(context.Background(), mustURL(t, "http://"+chunked.String()+"/d.xml"), chunked.Addr(), &FetchOptions{MaxSize: 1 << 20})
	if err != nil || root.Device.FriendlyName != "Test Router" {
		t.Errorf("with MaxSize 1 MiB: %v", err)
	}
}

func TestFetchTimeLimit(t *testing.T) {
	slow := serveHTTP(t, "127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/xml")
		w.Write([]byte(igdDescription[:100])) // start, then stall
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}))
	loc := mustURL(t, "http://"+slow.String()+"/d.xml")

	start := time.Now()
	_, err := Fetch(context.Background(), loc, slow.Addr(), &FetchOptions{Timeout: 100 * time.Millisecond})
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Timeout option: %v, want ErrTimeout and DeadlineExceeded", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("returned after %v with a 100 ms limit", d)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start = time.Now()
	_, err = Fetch(ctx, loc, slow.Addr(), nil)
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("context deadline: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("returned after %v with a 100 ms context", d)
	}
}

func TestFetchHTTPStatus(t *testing.T) {
	srv := serveHTTP(t, "127.0.0.1:0", http.NotFoundHandler())
	_, err := Fetch(context.Background(), mustURL(t, "http://"+srv.String()+"/d.xml"), srv.Addr(), nil)
	if err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("404: %v", err)
	}
}

func TestFetchArguments(t *testing.T) {
	srv := serveHTTP(t, "127.0.0.1:0", xmlHandler(igdDescription))
	// No responder given: an IP literal host is taken as the responder.
	root, err := Fetch(context.Background(), mustURL(t, "http://"+srv.String()+"/d.xml"), netip.Addr{}, nil)
	if err != nil || root.Location.Host != srv.String() {
		t.Errorf("IP literal without responder: %v", err)
	}
	// A host name would need DNS, which would choose the host: refused.
	_, err = Fetch(context.Background(), mustURL(t, "http://localhost:"+strconv.Itoa(int(srv.Port()))+"/d.xml"), netip.Addr{}, nil)
	if !errors.Is(err, ErrInvalidArgs) {
		t.Errorf("host name without responder: %v", err)
	}
	for _, bad := range []string{"https://127.0.0.1/d.xml", "file:///etc/passwd", "/d.xml"} {
		if _, err := Fetch(context.Background(), mustURL(t, bad), netip.MustParseAddr("127.0.0.1"), nil); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	if _, err := Fetch(context.Background(), nil, netip.MustParseAddr("127.0.0.1"), nil); !errors.Is(err, ErrInvalidArgs) {
		t.Errorf("nil location: %v", err)
	}
}

// A description over IPv6 (::1), and a link-local responder's zone carried
// into the URLs.
func TestFetchIPv6(t *testing.T) {
	srv := serveHTTP(t, "[::1]:0", xmlHandler(igdDescription))
	root, err := Fetch(context.Background(), mustURL(t, "http://"+srv.String()+"/d.xml"), srv.Addr(), nil)
	if err != nil {
		t.Fatal(err)
	}
	svc := root.Services("urn:schemas-upnp-org:service:WANIPConnection:2")[0]
	if want := "http://" + srv.String() + "/ctl/IPConn"; svc.ControlURL.String() != want {
		t.Errorf("ControlURL %s, want %s", svc.ControlURL, want)
	}

	ll := netip.MustParseAddr("fe80::1%eth0")
	root, err = ParseDescription([]byte(igdDescription), mustURL(t, "http://[fe80::1]:5000/rootDesc.xml"), ll)
	if err != nil {
		t.Fatal(err)
	}
	svc = root.Services("urn:schemas-upnp-org:service:WANIPConnection:2")[0]
	if svc.ControlURL.String() != "http://[fe80::1%25eth0]:5000/ctl/IPConn" || svc.ControlURL.Hostname() != "fe80::1%eth0" {
		t.Errorf("link-local ControlURL %s (host %s)", svc.ControlURL, svc.ControlURL.Hostname())
	}
	// The transport dials exactly the zoned address.
	tr := newTransport(ll, "5000")
	defer tr.CloseIdleConnections()
	if _, err := tr.DialContext(context.Background(), "tcp", "[fe80::1%eth1]:5000"); err == nil || !strings.Contains(err.Error(), "refusing") {
		t.Errorf("dial to another zone: %v", err)
	}
}

// The dialer is the last line of the policy: it refuses any address but the
// responder's, whatever URL reaches it.
func TestTransportDialsOnlyTheResponder(t *testing.T) {
	victim := &hitCounter{}
	v := serveHTTP(t, "127.0.0.1:0", victim)
	tr := newTransport(netip.MustParseAddr("127.0.0.2"), strconv.Itoa(int(v.Port())))
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	resp, err := c.Get("http://" + v.String() + "/")
	if err == nil {
		resp.Body.Close()
		t.Fatal("transport dialled a foreign host")
	}
	if victim.Hits() != 0 {
		t.Errorf("foreign host got %d hits", victim.Hits())
	}
	if !strings.Contains(err.Error(), "refusing") {
		t.Errorf("error %v", err)
	}
}
