package upnpmap

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// A Mapping is a port mapping on the gateway that a goroutine of its own
// keeps alive: it renews the lease before it runs out, re-creates the
// mapping when the gateway loses it, and reports what happens on Events. Call
// Close to delete it (or Detach to leave it on the gateway); until then the
// goroutine runs, whatever happened to the context given to Map.
type Mapping struct {
	c   *Client
	gw  *gateway
	mp  mapper
	q   *mapReq
	clk clock
	log *slog.Logger

	mu sync.Mutex
	g  *grant // current grant; guarded by mu

	events  chan Event
	wake    chan struct{} // capacity 1: "look at pending"
	pending atomic.Uint32 // sig* bits
	cancel  context.CancelFunc
	done    chan struct{} // closed when the renewer returned

	stopOnce sync.Once

	// pair is the IPv6 pinhole opened with this IPv4 mapping, and pairErr
	// the other family's failure (see family.go); set before Map returns.
	pair    *Mapping
	pairErr error
	vmu     sync.Mutex  // serialises Verify
	vstate  verifyState // guarded by vmu

	emitMu       sync.Mutex // orders emitOutside before close(events)
	eventsClosed bool       // guarded by emitMu

	// chain is the upstream leg of a double NAT (chain.go); nil when the
	// mapping is not chained. Set once: before Map returns (read by the
	// renewer, which starts earlier), or by Verify (chainLate).
	chain atomic.Pointer[chain]
}

// newMapping wraps a fresh grant and starts its renewer.
func newMapping(gw *gateway, mp mapper, q *mapReq, g *grant) *Mapping {
	m := &Mapping{
		c:      gw.c,
		gw:     gw,
		mp:     mp,
		q:      q,
		clk:    gw.c.clock(),
		g:      g,
		events: make(chan Event, eventBuffer),
		wake:   make(chan struct{}, 1),
		done:   make(chan struct{}),
	}
	m.log = gw.log.With("method", mp.method(), "proto", q.proto, "internal", q.internal)
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	gw.register(m)
	go m.renewLoop(ctx)
	return m
}

func (m *Mapping) grant() *grant {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.g
}

func (m *Mapping) setGrant(g *grant) {
	m.mu.Lock()
	m.g = g
	m.mu.Unlock()
}

// External is the mapping's address on the Internet side: the gateway's
// external address and the granted port. The address part is zero if the
// gateway did not tell it.
//
// For a chained mapping (double NAT, see Legs) it is the outermost leg's:
// the upstream router's external address and port, while that leg stands;
// the inner router's otherwise.
func (m *Mapping) External() netip.AddrPort {
	if ch := m.chain.Load(); ch != nil {
		if o := ch.outerMapping(); o != nil {
			return o.External()
		}
	}
	return m.grant().external
}

// Internal is where the gateway forwards to.
func (m *Mapping) Internal() netip.AddrPort { return m.grant().internal }

// Method is the method that made the mapping.
func (m *Mapping) Method() Method { return m.mp.method() }

// Protocol is TCP or UDP.
func (m *Mapping) Protocol() Protocol { return m.q.proto }

// Gateway is the router that holds the mapping; for method SSH, the SSH
// server.
func (m *Mapping) Gateway() netip.Addr {
	if m.gw == nil { // an SSH forward (method_ssh.go)
		return m.External().Addr()
	}
	return m.gw.addr
}

// Expires is when the current lease ends unless renewed; zero for a
// permanent UPnP lease (which Close deletes).
func (m *Mapping) Expires() time.Time { return m.grant().expires() }

// Lifetime is the lease the gateway granted last; 0 for a permanent one.
func (m *Mapping) Lifetime() time.Duration { return m.grant().lifetime }

// Nonce is the PCP mapping nonce, which a later delete must present
// (RFC 6887 §11.1); zero for the other methods.
func (m *Mapping) Nonce() [12]byte { return m.grant().nonce }

// Location is the UPnP description URL of the device holding the mapping;
// empty for the other methods.
func (m *Mapping) Location() string {
	if l, ok := m.mp.(interface{ locationURL() string }); ok {
		return l.locationURL()
	}
	return ""
}

// DeleteRequest describes the mapping for Client.Delete, e.g. from another
// process after Detach.
func (m *Mapping) DeleteRequest() DeleteRequest {
	g := m.grant()
	return DeleteRequest{
		Method:       m.mp.method(),
		Protocol:     m.q.proto,
		ExternalPort: g.external.Port(),
		InternalPort: g.internal.Port(),
		InternalAddr: g.internal.Addr(),
		Nonce:        g.nonce,
		PinholeID:    g.pinholeID,
		Via:          m.q.via,
	}
}

// Events delivers what happens to the mapping (see EventKind). The channel
// has room for 16 events; the renewer never waits for a reader: when it is
// full the oldest event is dropped. It is closed by Close and Detach.
func (m *Mapping) Events() <-chan Event { return m.events }

// Close deletes the mapping on the gateway, waiting at most
// Client.CloseTimeout, and stops its goroutine. It is idempotent: later
// calls return nil. After Detach it deletes nothing.
func (m *Mapping) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), m.c.closeTimeout())
	defer cancel()
	return m.CloseContext(ctx)
}

// CloseContext is Close bounded by ctx instead of Client.CloseTimeout.
func (m *Mapping) CloseContext(ctx context.Context) (err error) {
	defer func() { err = cleanErr(err) }() // router text in the message
	if p := m.pair; p != nil {
		defer func() { err = errors.Join(err, p.CloseContext(ctx)) }()
	}
	if ch := m.chain.Load(); ch != nil {
		// The upstream leg first: the port stops being reachable from the
		// Internet before its inner target goes. (Idempotent, as Close.)
		outerErr := ch.close(ctx)
		defer func() { err = errors.Join(outerErr, err) }()
	}
	if !m.stop() {
		return nil
	}
	if ch := m.chain.Load(); ch != nil {
		// Chained by Verify (chainLate) after the look above; closing a
		// chain closed already does nothing.
		lateErr := ch.close(ctx)
		defer func() { err = errors.Join(lateErr, err) }()
	}
	g := m.grant()
	if m.gw == nil { // an SSH forward (method_ssh.go): no router to call
		err = m.mp.unmap(ctx, m.q, g)
	} else {
		err = m.gw.callExempt(ctx, func(ctx context.Context) error {
			return m.mp.unmap(ctx, m.q, g)
		})
	}
	if err != nil {
		m.log.Warn("delete failed", "external", g.external, "err", errText(err))
		return fmt.Errorf("upnpmap: delete %s %v via %s: %w", m.q.proto, g.external, m.mp.method(), err)
	}
	m.log.Info("deleted", "external", g.external)
	return nil
}

// Detach stops renewing and forgets the mapping without deleting it: it
// stays on the gateway until its lease runs out (a permanent UPnP lease stays
// until deleted, see DeleteRequest). Events is closed; later Close and Detach
// calls do nothing. The accessors keep working.
//
// An SSH forward (method SSH) lives only in this process: Detach closes it.
func (m *Mapping) Detach() {
	if m.gw == nil {
		_ = m.Close()
		return
	}
	if m.pair != nil {
		m.pair.Detach()
	}
	if ch := m.chain.Load(); ch != nil {
		ch.detach()
	}
	if m.stop() {
		if ch := m.chain.Load(); ch != nil {
			ch.detach() // chained by Verify meanwhile (chainLate); else a no-op
		}
		m.log.Info("detached", "external", m.External(), "expires", m.Expires())
	}
}

// stop ends the renewer, closes Events and unregisters the mapping. It
// reports whether this call did it.
func (m *Mapping) stop() bool {
	first := false
	m.stopOnce.Do(func() {
		first = true
		m.cancel()
		<-m.done
		m.emitMu.Lock()
		m.eventsClosed = true
		close(m.events)
		m.emitMu.Unlock()
		if m.gw != nil {
			m.gw.unregister(m)
		}
	})
	return first
}
