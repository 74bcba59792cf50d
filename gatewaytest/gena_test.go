package gatewaytest

import (
	"net"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/internal/gena"
)

// received is one NOTIFY as the callback saw it.
type received struct {
	from netip.Addr
	n    *gena.Notify
	err  error
}

// callbackServer listens on 127.0.0.1 and hands every NOTIFY to the
// returned channel.
func callbackServer(t *testing.T) (string, <-chan received) {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan received, 16)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := gena.ReadNotify(r, "")
		ch <- received{from: remoteAddr(r), n: n, err: err}
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String() + "/cb", ch
}

// next waits (bounded) for one NOTIFY.
func next(t *testing.T, ch <-chan received) received {
	t.Helper()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("NOTIFY: %v", r.err)
		}
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no NOTIFY within 10 s")
		return received{}
	}
}

// genaDo sends a GENA request to the connection service's eventSubURL.
func genaDo(t *testing.T, g *Gateway, method string, h map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+g.HTTPAddr().String()+"/evt/IPConn", nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func TestGENAEventsExternalAddress(t *testing.T) {
	g := New(t, Config{})
	cb, ch := callbackServer(t)

	if resp := genaDo(t, g, "SUBSCRIBE", map[string]string{"CALLBACK": "<" + cb + ">", "NT": "upnp:event"}); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("SUBSCRIBE with eventing off: %d, want 404", resp.StatusCode)
	}
	g.SetEventing(true)
	resp := genaDo(t, g, "SUBSCRIBE", map[string]string{"CALLBACK": "<" + cb + ">", "NT": "upnp:event", "TIMEOUT": "Second-300"})
	sid := resp.Header.Get("SID")
	if resp.StatusCode != http.StatusOK || sid == "" || resp.Header.Get("TIMEOUT") != "Second-300" {
		t.Fatalf("SUBSCRIBE: %d SID %q TIMEOUT %q", resp.StatusCode, sid, resp.Header.Get("TIMEOUT"))
	}

	r := next(t, ch)
	if v, _ := r.n.Get("ExternalIPAddress"); r.n.Seq != 0 || r.n.SID != sid || v != DefaultExternalAddr.String() {
		t.Fatalf("initial event: SEQ %d SID %q address %q", r.n.Seq, r.n.SID, v)
	}
	if r.from != g.Addr() {
		t.Errorf("NOTIFY from %v, want the gateway's %v", r.from, g.Addr())
	}

	newAddr := netip.MustParseAddr("198.51.100.9")
	g.SetExternalAddr(newAddr)
	r = next(t, ch)
	if v, _ := r.n.Get("ExternalIPAddress"); r.n.Seq != 1 || v != newAddr.String() {
		t.Fatalf("change event: SEQ %d address %q, want 1 %v", r.n.Seq, v, newAddr)
	}

	g.SkipEventSeq()
	g.SetExternalAddr(DefaultExternalAddr)
	if r = next(t, ch); r.n.Seq != 3 {
		t.Fatalf("after SkipEventSeq: SEQ %d, want 3 (2 skipped)", r.n.Seq)
	}

	if resp := genaDo(t, g, "SUBSCRIBE", map[string]string{"SID": sid, "TIMEOUT": "Second-600"}); resp.StatusCode != http.StatusOK || resp.Header.Get("SID") != sid {
		t.Fatalf("renew: %d SID %q", resp.StatusCode, resp.Header.Get("SID"))
	}
	if n := g.EventRequests(GENARenew); n != 1 {
		t.Errorf("EventRequests(GENARenew) = %d, want 1", n)
	}
	g.SetEventTimeout(2 * time.Second)
	if resp := genaDo(t, g, "SUBSCRIBE", map[string]string{"SID": sid, "TIMEOUT": "Second-600"}); resp.Header.Get("TIMEOUT") != "Second-2" {
		t.Errorf("renew under SetEventTimeout(2s): TIMEOUT %q, want Second-2", resp.Header.Get("TIMEOUT"))
	}
	if resp := genaDo(t, g, "SUBSCRIBE", map[string]string{"SID": "uuid:nobody", "TIMEOUT": "Second-600"}); resp.StatusCode != http.StatusPreconditionFailed {
		t.Errorf("renew of an unknown SID: %d, want 412", resp.StatusCode)
	}

	if resp := genaDo(t, g, "UNSUBSCRIBE", map[string]string{"SID": sid}); resp.StatusCode != http.StatusOK {
		t.Fatalf("UNSUBSCRIBE: %d", resp.StatusCode)
	}
	if subs := g.Subscribers(); len(subs) != 0 {
		t.Fatalf("after UNSUBSCRIBE: %d subscribers", len(subs))
	}
	g.SetExternalAddr(newAddr)
	if n := g.EventRequests(GENANotify); n != 3 {
		t.Errorf("NOTIFYs sent = %d, want 3 (none after UNSUBSCRIBE)", n)
	}
}

func TestGENARebootForgetsSubscribers(t *testing.T) {
	g := New(t, Config{})
	g.SetEventing(true)
	cb, ch := callbackServer(t)
	resp := genaDo(t, g, "SUBSCRIBE", map[string]string{"CALLBACK": "<" + cb + ">", "NT": "upnp:event"})
	sid := resp.Header.Get("SID")
	next(t, ch)
	if subs := g.Subscribers(); len(subs) != 1 || subs[0].SID != sid {
		t.Fatalf("Subscribers = %+v, want %s", subs, sid)
	}
	g.Reboot()
	if resp := genaDo(t, g, "SUBSCRIBE", map[string]string{"SID": sid}); resp.StatusCode != http.StatusPreconditionFailed {
		t.Errorf("renew after reboot: %d, want 412", resp.StatusCode)
	}
}
