package upnpmap

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/upnpmap/upnpmap/gatewaytest"
)

// pinholeLog records the UPnP pinhole changes the fake reports, and runs
// onAdd (once) inside the gateway's handling of the first AddPinhole: after
// the pinhole is made, before the answer is sent.
type pinholeLog struct {
	mu    sync.Mutex
	kinds []gatewaytest.ChangeKind
	onAdd func()
}

func (l *pinholeLog) change(c gatewaytest.Change) {
	if c.PinholeID == 0 {
		return
	}
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

func (l *pinholeLog) seen() []gatewaytest.ChangeKind {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.kinds)
}

// A Map given up while its AddPinhole is at the gateway — the pinhole made,
// the answer not yet read — leaves no pinhole behind: the answer is read,
// and the pinhole it names removed, before Map returns the context's error.
// (Cut short, the pinhole stayed on the router with nobody to remove it: the
// adapters' Close-during-open flake, issue 16.)
func TestPinholeCancelledDuringAddLeavesNothing(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := &pinholeLog{onAdd: cancel}
	gw, c, _ := dualGateway(t, gatewaytest.Config{OnChange: log.change}, viaUPnP, UPnP)

	m, err := c.Map(ctx, Request{InternalPort: 5030, Family: IPv6})
	if err == nil {
		m.Close()
		t.Fatal("Map succeeded though its context was cancelled before the answer")
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Map: %v, want the context's error", err)
	}
	if ps := gw.Pinholes(); len(ps) != 0 {
		t.Fatalf("router holds pinholes %+v after the cancelled Map", ps)
	}
	want := []gatewaytest.ChangeKind{gatewaytest.Added, gatewaytest.Removed}
	if got := log.seen(); !slices.Equal(got, want) {
		t.Errorf("pinhole changes %v, want %v (made once, removed once)", got, want)
	}
	if n := gw.Requests("AddPinhole"); n != 1 {
		t.Errorf("AddPinhole sent %d times, want 1", n)
	}
}

// A Map cancelled before its AddPinhole is sent sends none.
func TestPinholeCancelledBeforeAddSendsNone(t *testing.T) {
	gw, c, _ := dualGateway(t, gatewaytest.Config{}, viaUPnP, UPnP)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if m, err := c.Map(ctx, Request{InternalPort: 5031, Family: IPv6}); err == nil {
		m.Close()
		t.Fatal("Map succeeded with a cancelled context")
	}
	if n := gw.Requests("AddPinhole"); n != 0 {
		t.Errorf("AddPinhole sent %d times with a cancelled context", n)
	}
}

// The same over PCP: a Map given up while the server makes its pinhole
// withdraws it (a delete under the nonce it chose) before returning; when
// the reply crosses the cancellation, the pinhole it opened is closed.
// Either way Map fails with the context's error and the server holds
// nothing.
func TestPCPPinholeCancelledDuringMapLeavesNothing(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var once sync.Once
	onChange := func(c gatewaytest.Change) {
		if c.Kind == gatewaytest.Added && c.Mapping.Method == gatewaytest.PCP && c.Mapping.InternalAddr.Is6() {
			once.Do(cancel)
		}
	}
	gw, c, _ := dualGateway(t, gatewaytest.Config{OnChange: onChange}, viaPCP, PCP)

	m, err := c.Map(ctx, Request{InternalPort: 5032, Family: IPv6})
	if err == nil {
		m.Close()
		t.Fatal("Map succeeded though its context was cancelled before the answer")
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Map: %v, want the context's error", err)
	}
	if ps := gw.Pinholes(); len(ps) != 0 {
		t.Fatalf("server holds pinholes %+v after the cancelled Map", ps)
	}
}

// The IPv4 twin over UPnP: a Map given up while its AddPortMapping is at the
// gateway — the entry made, the answer not yet read — leaves no entry: the
// answer is read and the entry deleted before Map returns the context's
// error. (Cut short, the entry stayed with nobody to renew or delete it.)
func TestUPnPMapCancelledDuringAddLeavesNothing(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var (
		mu    sync.Mutex
		kinds []gatewaytest.ChangeKind
	)
	onChange := func(c gatewaytest.Change) {
		if c.PinholeID != 0 || c.Mapping.Method != gatewaytest.UPnP {
			return
		}
		mu.Lock()
		kinds = append(kinds, c.Kind)
		mu.Unlock()
		if c.Kind == gatewaytest.Added {
			cancel()
		}
	}
	gw, c := testGateway(t, gatewaytest.Config{OnChange: onChange}, UPnP)

	m, err := c.Map(ctx, Request{InternalPort: 5033})
	if err == nil {
		m.Close()
		t.Fatal("Map succeeded though its context was cancelled before the answer")
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Map: %v, want the context's error", err)
	}
	if ms := gw.Mappings(); len(ms) != 0 {
		t.Fatalf("router holds %+v after the cancelled Map", ms)
	}
	mu.Lock()
	got := slices.Clone(kinds)
	mu.Unlock()
	if want := []gatewaytest.ChangeKind{gatewaytest.Added, gatewaytest.Removed}; !slices.Equal(got, want) {
		t.Errorf("entry changes %v, want %v (made once, deleted once)", got, want)
	}
	if n := gw.Requests("AddPortMapping"); n != 1 {
		t.Errorf("AddPortMapping sent %d times, want 1", n)
	}
}
