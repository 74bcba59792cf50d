package libp2p

import (
	"slices"
	"sync"
	"testing"

	swarmt "github.com/libp2p/go-libp2p/p2p/net/swarm/testing"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/upnpmap/upnpmap/adapters/internal/testgw"
	"github.com/upnpmap/upnpmap/gatewaytest"
)

// changeLog records the router's table changes, and on the first addition
// (inside the router's handling of the request: the entry made, the answer
// not yet sent) runs onAdd.
type changeLog struct {
	mu    sync.Mutex
	kinds []gatewaytest.ChangeKind
	onAdd func()
}

func (l *changeLog) change(c gatewaytest.Change) {
	l.mu.Lock()
	l.kinds = append(l.kinds, c.Kind)
	f := l.onAdd
	if c.Kind == gatewaytest.Added {
		l.onAdd = nil
	}
	l.mu.Unlock()
	if c.Kind == gatewaytest.Added && f != nil {
		f()
	}
}

func (l *changeLog) seen() []gatewaytest.ChangeKind {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.kinds)
}

// Close called while the manager's mapping is being made — the router has
// made it, its answer is not yet read — leaves nothing on the router: the
// open is not cut short (its outcome would be unknown to the manager) but
// waited for, and then deleted. Issue 16's flake, made certain: before, the
// pinhole (or IPv4 mapping) stayed on the router after Close.
func TestCloseDuringOpenLeavesNothing(t *testing.T) {
	for _, tc := range []struct{ name, listen string }{
		{"IPv4 mapping", "/ip4/0.0.0.0/tcp/0"},
		{"IPv6 pinhole", "/ip6/::/udp/0/quic-v1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			managers := make(chan *Manager, 1)
			closed := make(chan error, 1)
			log := &changeLog{onAdd: func() {
				m := <-managers
				go func() { closed <- m.Close() }()
				<-m.ctx.Done() // Close has begun: the open is in flight
			}}
			gw, c := testgw.NewDual(t, gatewaytest.Config{OnChange: log.change})
			sw := swarmt.GenSwarm(t, swarmt.OptDisableWebTransport, swarmt.OptDisableWebRTC)
			t.Cleanup(func() { sw.Close() })
			if err := sw.Listen(ma.StringCast(tc.listen)); err != nil {
				t.Fatal(err)
			}
			managers <- New(sw, c)

			if err := <-closed; err != nil {
				t.Fatalf("Close: %v", err)
			}
			if ps, ms := gw.Pinholes(), gw.Mappings(); len(ps) != 0 || len(ms) != 0 {
				t.Fatalf("router holds pinholes %+v and mappings %+v after Close, want nothing", ps, ms)
			}
			want := []gatewaytest.ChangeKind{gatewaytest.Added, gatewaytest.Removed}
			if got := log.seen(); !slices.Equal(got, want) {
				t.Errorf("router changes %v, want %v (made once, deleted by Close)", got, want)
			}
		})
	}
}
