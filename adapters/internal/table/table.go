// Package table keeps the upnpmap Mappings that an adapter made, keyed the way
// the adapted interfaces name a mapping (protocol and internal port), and
// tracks each one's events so that a lookup answers with the mapping's state
// now: its current external address, or nothing while the gateway has lost it.
package table

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/upnpmap/upnpmap"
)

// ErrLost is returned for a mapping that the gateway lost and upnpmap is
// still restoring; it wraps the cause the last Lost or Failed event gave.
var ErrLost = errors.New("mapping lost on the gateway; upnpmap is restoring it")

// Key names a mapping as the adapted interfaces do.
type Key struct {
	Protocol upnpmap.Protocol
	Internal uint16
	// Family is the Request.Family the mapping is made with: zero (both
	// families where the host has both: the IPv4 mapping, with its
	// pinhole beside it), IPv4, or IPv6 (a pinhole alone, whose external
	// address is the host's own). An IPv4 and an IPv6 listener on the same
	// port are two keys.
	Family upnpmap.Family
}

// ParseProtocol accepts "tcp" and "udp" in any case, as go-nat ("tcp") and
// go-ethereum ("TCP") spell them.
func ParseProtocol(s string) (upnpmap.Protocol, error) {
	switch strings.ToLower(s) {
	case "tcp":
		return upnpmap.TCP, nil
	case "udp":
		return upnpmap.UDP, nil
	}
	return "", fmt.Errorf("protocol %q: want tcp or udp: %w", s, upnpmap.ErrInvalidArgs)
}

// KeyOf checks a protocol name and a port as the adapted interfaces pass them.
func KeyOf(protocol string, port int) (Key, error) {
	p, err := ParseProtocol(protocol)
	if err != nil {
		return Key{}, err
	}
	if port <= 0 || port > 65535 {
		return Key{}, fmt.Errorf("internal port %d: %w", port, upnpmap.ErrInvalidArgs)
	}
	return Key{Protocol: p, Internal: uint16(port)}, nil
}

// Table holds live mappings of one Client. Its zero value is not usable; call New.
type Table struct {
	client *upnpmap.Client

	mu      sync.Mutex
	entries map[Key]*entry
	closed  bool
	adding  sync.WaitGroup // one per Add under way; Close waits for them
	wg      sync.WaitGroup // one watch goroutine per entry
}

// entry is one live mapping and the state its events left it in.
type entry struct {
	m        *upnpmap.Mapping
	wish     uint16 // the external port asked for
	external netip.AddrPort
	lost     bool
	cause    error // why it was lost, where known
}

// New returns an empty table whose mappings c makes.
func New(c *upnpmap.Client) *Table {
	if c == nil {
		c = &upnpmap.Client{}
	}
	return &Table{client: c, entries: make(map[Key]*entry)}
}

// Client is the upnpmap Client the table maps with.
func (t *Table) Client() *upnpmap.Client { return t.client }

// Add maps k with the external port wish (0: the internal port). A live
// mapping for k is kept (upnpmap renews it) and its current external address
// returned, as the adapted interfaces expect a repeated add to refresh — unless
// the caller now wishes for a port that is neither the one first asked for nor
// the one granted, in which case the old mapping is replaced.
//
// Mappings that Add lets go (the one replaced, one made for a table closed
// meanwhile, a pinhole that opened alone) are deleted within the Client's
// CloseTimeout, not ctx: an ended ctx would leave them on the gateway.
func (t *Table) Add(ctx context.Context, k Key, wish uint16, description string, lifetime time.Duration) (netip.AddrPort, error) {
	if wish == 0 {
		wish = k.Internal
	}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return netip.AddrPort{}, errClosed
	}
	t.adding.Add(1)
	defer t.adding.Done()
	old := t.entries[k]
	if old != nil && (wish == old.wish || wish == old.external.Port()) {
		defer t.mu.Unlock()
		if old.lost {
			return netip.AddrPort{}, fmt.Errorf("%s %d: %w: %w", k.Protocol, k.Internal, ErrLost, old.cause)
		}
		return old.external, nil
	}
	delete(t.entries, k)
	t.mu.Unlock()
	if old != nil {
		// A failed delete leaves a lease that runs out by itself; the new
		// mapping matters more than the old one's error.
		_ = old.m.Close()
	}

	m, err := t.client.Map(ctx, upnpmap.Request{
		Protocol:     k.Protocol,
		InternalPort: k.Internal,
		Family:       k.Family,
		ExternalPort: wish,
		Description:  description,
		Lifetime:     lifetime,
	})
	if err != nil {
		return netip.AddrPort{}, err
	}
	if k.Family == upnpmap.BothFamilies && m.Family() == upnpmap.IPv6 {
		// Only the pinhole opened: the adapted interfaces name an IPv4
		// mapping (their external address and port are the NAT's), so
		// the IPv4 failure is the answer, and a pinhole nobody asked
		// for by itself is not left open.
		_ = m.Close()
		return netip.AddrPort{}, m.OtherFamilyErr()
	}
	e := &entry{m: m, wish: wish, external: m.External()}
	t.mu.Lock()
	if t.closed {
		// Close is waiting for this Add (adding) to delete what it made.
		t.mu.Unlock()
		_ = m.Close()
		return netip.AddrPort{}, errClosed
	}
	if won := t.entries[k]; won != nil {
		// A concurrent Add for the same key got there first: keep its
		// mapping, drop ours.
		ext := won.external
		t.mu.Unlock()
		_ = m.Close()
		return ext, nil
	}
	ext := e.external // before watch may change it
	t.entries[k] = e
	t.wg.Add(1)
	go t.watch(e)
	t.mu.Unlock()
	return ext, nil
}

var errClosed = errors.New("adapter closed")

// watch applies m's events to e until the mapping is closed.
func (t *Table) watch(e *entry) {
	defer t.wg.Done()
	for ev := range e.m.Events() {
		t.mu.Lock()
		switch ev.Kind {
		case upnpmap.Lost:
			e.lost, e.cause = true, ev.Err
			if e.cause == nil {
				e.cause = errors.New("the gateway no longer holds it")
			}
		case upnpmap.Restored, upnpmap.Renewed, upnpmap.ExternalAddressChanged:
			e.lost, e.cause = false, nil
			if ev.External.IsValid() {
				e.external = ev.External
			}
		}
		t.mu.Unlock()
	}
}

// Get returns k's external address now; false when there is no live mapping
// for k or the gateway has lost it (until it is restored).
func (t *Table) Get(k Key) (netip.AddrPort, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.entries[k]
	if e == nil || e.lost || !e.external.IsValid() {
		return netip.AddrPort{}, false
	}
	return e.external, true
}

// Any returns the external address of some live mapping; false when none has
// one. It answers "what is our external address" when the gateway does not
// tell it.
func (t *Table) Any() (netip.Addr, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, e := range t.entries {
		if !e.lost && e.external.Addr().IsValid() && !e.external.Addr().IsUnspecified() {
			return e.external.Addr(), true
		}
	}
	return netip.Addr{}, false
}

// Keys lists the live mappings' keys.
func (t *Table) Keys() []Key {
	t.mu.Lock()
	defer t.mu.Unlock()
	keys := make([]Key, 0, len(t.entries))
	for k := range t.entries {
		keys = append(keys, k)
	}
	return keys
}

// Remove deletes k's mapping from the gateway; nil when there is none.
func (t *Table) Remove(ctx context.Context, k Key) error {
	t.mu.Lock()
	e := t.entries[k]
	delete(t.entries, k)
	t.mu.Unlock()
	if e == nil {
		return nil
	}
	return e.m.CloseContext(ctx)
}

// Close deletes every mapping (each within the Client's CloseTimeout) and
// waits for the watch goroutines; later Adds fail. An Add under way is
// waited for (it is not cut short: a request cut short after it reached the
// gateway would leave there what it made) and deletes what it made, so that
// nothing is left on the gateway when Close returns.
func (t *Table) Close() error {
	t.mu.Lock()
	t.closed = true
	entries := t.entries
	t.entries = make(map[Key]*entry)
	t.mu.Unlock()
	var errs []error
	for k, e := range entries {
		if err := e.m.Close(); err != nil {
			errs = append(errs, fmt.Errorf("%s %d: %w", k.Protocol, k.Internal, err))
		}
	}
	t.adding.Wait()
	t.wg.Wait()
	return errors.Join(errs...)
}
