package gatewaytest

import (
	"net/netip"
	"sync"
	"testing"
	"time"
)

// changeLog records what Config.OnChange reports.
type changeLog struct {
	mu  sync.Mutex
	all []Change
}

func (l *changeLog) add(c Change) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all = append(l.all, c)
}

// take returns the changes so far and forgets them.
func (l *changeLog) take() []Change {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.all
	l.all = nil
	return out
}

// expect checks the kinds and makers of the changes since the last call.
func (l *changeLog) expect(t *testing.T, what string, want ...[2]string) []Change {
	t.Helper()
	got := l.take()
	ok := len(got) == len(want)
	for i := 0; ok && i < len(got); i++ {
		ok = string(got[i].Kind) == want[i][0] && got[i].By == want[i][1]
	}
	if !ok {
		t.Fatalf("%s: changes %+v, want %v", what, got, want)
	}
	return got
}

// TestOnChangeEveryProtocol: each protocol's add, renewal and delete is
// reported once, synchronously (before the reply arrives), with the method
// that made it.
func TestOnChangeEveryProtocol(t *testing.T) {
	var log changeLog
	clk := newFakeClock()
	g := New(t, Config{Now: clk.Now, OnChange: log.add})
	ext := g.ExternalAddr()

	pmp := dialFrom(t, netip.Addr{}, g.PCPAddr())
	pmp.roundTrip(pmpMap(2, 8080, 8080, 3600))
	got := log.expect(t, "NAT-PMP map", [2]string{"added", NATPMP})
	if m := got[0].Mapping; m.ExternalPort != 8080 || m.Protocol != "TCP" || m.ExternalAddr != ext || m.Method != NATPMP {
		t.Errorf("NAT-PMP added: %+v", m)
	}
	pmp.roundTrip(pmpMap(2, 8080, 8080, 3600))
	log.expect(t, "NAT-PMP renewal", [2]string{"renewed", NATPMP})
	pmp.roundTrip(pmpMap(2, 8080, 0, 0))
	log.expect(t, "NAT-PMP delete", [2]string{"removed", NATPMP})

	pcpc := dialFrom(t, netip.MustParseAddr("127.0.0.1"), g.PCPAddr())
	req := pcpReq{opcode: 1, lifetime: 600, client: netip.MustParseAddr("::ffff:127.0.0.1"), nonce: nonce(1), proto: 17, internal: 5000, extPort: 5000}
	pcpc.roundTrip(req.bytes())
	log.expect(t, "PCP map", [2]string{"added", PCP})
	pcpc.roundTrip(req.bytes())
	log.expect(t, "PCP renewal", [2]string{"renewed", PCP})
	req.lifetime = 0
	pcpc.roundTrip(req.bytes())
	log.expect(t, "PCP delete", [2]string{"removed", PCP})

	add := soapCall{svc: wanip2, action: "AddPortMapping", args: addArgs(7000, "TCP", 7000, "127.0.0.1", "x", 3600)}
	mustOK(t, "add", add.do(t, g))
	log.expect(t, "UPnP add", [2]string{"added", UPnP})
	mustOK(t, "re-add", add.do(t, g))
	log.expect(t, "UPnP overwrite by the same host", [2]string{"renewed", UPnP})
	mustOK(t, "delete", soapCall{svc: wanip2, action: "DeletePortMapping", args: keyArgs(7000, "TCP")}.do(t, g))
	log.expect(t, "UPnP delete", [2]string{"removed", UPnP})

	g.AddMapping(Mapping{ExternalPort: 22, Lifetime: time.Minute})
	log.expect(t, "AddMapping", [2]string{"added", Manual})
	clk.Advance(2 * time.Minute)
	if n := len(g.Mappings()); n != 0 {
		t.Fatalf("%d entries after expiry", n)
	}
	log.expect(t, "expiry", [2]string{"removed", ByExpiry})

	pmp.roundTrip(pmpMap(1, 9000, 9000, 3600))
	log.take()
	g.Reboot()
	log.expect(t, "reboot", [2]string{"removed", ByReboot})
}

// TestOnChangeFailedRequestsAreSilent: a refused request changes nothing
// and reports nothing.
func TestOnChangeFailedRequestsAreSilent(t *testing.T) {
	var log changeLog
	g := New(t, Config{OnChange: log.add, SecureMode: true})
	r := soapCall{svc: wanip2, action: "AddPortMapping", args: addArgs(7000, "TCP", 7000, "192.168.1.9", "x", 3600)}.do(t, g)
	if r.code == 0 {
		t.Fatalf("secure mode accepted a mapping for another host: %+v", r)
	}
	pmp := dialFrom(t, netip.Addr{}, g.PCPAddr())
	pmp.roundTrip(pmpMap(2, 8080, 0, 0)) // deleting nothing
	if got := log.take(); len(got) != 0 {
		t.Fatalf("changes reported for requests that changed nothing: %+v", got)
	}
}
