// Package libp2p is a NAT manager for go-libp2p hosts built on upnpmap: pass
// NATManager(client) to the libp2p.NATManager option in place of
// libp2p.NATPortMap().
//
// What changes for the host: the gateway is found by one quick probe (PCP,
// NAT-PMP and UPnP at once) rather than go-libp2p's serialised UPnP searches,
// PCP is spoken, mappings are renewed by upnpmap and re-created after a router
// reboot, and the external address GetMapping reports follows the mapping's
// events: none while the router has lost it, the new one after it moves.
//
// IPv6 listen addresses get IPv6 pinholes (upnpmap.Request.Family IPv6):
// the host's stable global address is opened on the router's firewall for
// the port, and GetMapping answers /ip6/<that address>/... for it. IPv4
// listen addresses get IPv4 mappings only, so a host listening on both
// families holds one of each per port.
package libp2p

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/config"
	"github.com/libp2p/go-libp2p/core/network"
	bhost "github.com/libp2p/go-libp2p/p2p/host/basic"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/upnpmap/upnpmap"
	"github.com/upnpmap/upnpmap/adapters/internal/table"
)

const (
	// discoverTimeout bounds the probe for the gateway, as go-libp2p bounds
	// its own discovery.
	discoverTimeout = 10 * time.Second
	// mapTimeout bounds the creation of one mapping (fallbacks included).
	mapTimeout = 15 * time.Second
	// resyncInterval is how often the listen addresses are compared with
	// the mappings even without a Listen or ListenClose notification, so
	// that a mapping whose creation failed is tried again.
	resyncInterval = time.Minute
	// description is the UPnP description of the host's mappings.
	description = "libp2p"
)

// NATManager returns the constructor the libp2p.NATManager option takes:
//
//	h, err := libp2p.New(libp2p.NATManager(upnpmaplibp2p.NATManager(nil)))
//
// c is the upnpmap Client to map with; nil means a zero Client (the default
// gateway). c must not be copied or changed afterwards.
func NATManager(c *upnpmap.Client) config.NATManagerC {
	return func(n network.Network) bhost.NATManager { return New(n, c) }
}

// Manager maps the ports of a libp2p network's listen addresses (TCP and
// UDP, which carries QUIC, WebTransport and WebRTC; IPv4 addresses that are
// unspecified or not loopback, link-local or multicast; IPv6 addresses that
// are unspecified or global, which get pinholes) and answers GetMapping with
// their external addresses. It satisfies basichost.NATManager.
type Manager struct {
	net    network.Network
	client *upnpmap.Client
	table  *table.Table
	found  atomic.Bool
	wake   chan struct{} // cap 1: the listen addresses changed

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{} // closed when run returns
	close  sync.Once
	err    error // Close's result
}

var _ bhost.NATManager = (*Manager)(nil)

// New starts a Manager for n: it probes the gateway at once, then maps the
// listen addresses and follows their changes until Close.
func New(n network.Network, c *upnpmap.Client) *Manager {
	if c == nil {
		c = &upnpmap.Client{}
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &Manager{
		net:    n,
		client: c,
		table:  table.New(c),
		wake:   make(chan struct{}, 1),
		ctx:    ctx,
		cancel: cancel,
		done:   make(chan struct{}),
	}
	go m.run()
	return m
}

// HasDiscoveredNAT reports whether the gateway answered the probe.
func (m *Manager) HasDiscoveredNAT() bool { return m.found.Load() }

// run probes the gateway, then keeps the mappings in step with the listen
// addresses until Close.
func (m *Manager) run() {
	defer close(m.done)
	dctx, cancel := context.WithTimeout(m.ctx, discoverTimeout)
	res, err := m.client.Discover(dctx)
	cancel()
	if err != nil {
		m.log().Info("no gateway for port mappings", "err", err)
		return
	}
	m.log().Debug("gateway found", "result", res.String())
	m.found.Store(true)

	notifiee := &network.NotifyBundle{
		ListenF:      func(network.Network, ma.Multiaddr) { m.poke() },
		ListenCloseF: func(network.Network, ma.Multiaddr) { m.poke() },
	}
	m.net.Notify(notifiee)
	defer m.net.StopNotify(notifiee)

	tick := time.NewTicker(resyncInterval)
	defer tick.Stop()
	for {
		m.sync()
		select {
		case <-m.wake:
		case <-tick.C:
		case <-m.ctx.Done():
			return
		}
	}
}

func (m *Manager) poke() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// sync maps the listen addresses not yet mapped and deletes the mappings of
// addresses no longer listened on.
func (m *Manager) sync() {
	want := make(map[table.Key]bool)
	for _, a := range m.net.ListenAddresses() {
		if la, ok := parseListen(a); ok {
			want[la.key] = true
		}
	}
	for _, k := range m.table.Keys() {
		if !want[k] {
			// Not cancelled by Close: a delete cut short would leave the
			// mapping on the router, and the table has already let it go.
			ctx, cancel := context.WithTimeout(context.WithoutCancel(m.ctx), mapTimeout)
			if err := m.table.Remove(ctx, k); err != nil {
				m.log().Info("deleting port mapping", "protocol", k.Protocol, "port", k.Internal, "family", k.Family, "err", err)
			}
			cancel()
		}
	}
	for k := range want {
		if m.ctx.Err() != nil {
			return
		}
		// A key already mapped costs nothing: the table answers. Not
		// cancelled by Close either: a request cut short after it reached
		// the router leaves there what it made, unknown to the table.
		// Close waits for it instead (within mapTimeout) and deletes it.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(m.ctx), mapTimeout)
		ext, err := m.table.Add(ctx, k, 0, description, 0)
		cancel()
		if err != nil {
			m.log().Info("port mapping", "protocol", k.Protocol, "port", k.Internal, "family", k.Family, "err", err)
			continue
		}
		m.log().Debug("port mapped", "protocol", k.Protocol, "port", k.Internal, "family", k.Family, "external", ext)
	}
}

// GetMapping returns the external address of listen address a, followed by
// what came after the port in a (/quic-v1, /ws …): for IPv4, the gateway's
// external address and the mapped port; for IPv6, the pinhole's (the host's
// stable global address and the same port). Nil when a's port is not mapped
// for a's family, when an IPv6 a is bound to another address than the one
// the pinhole opens, or while the router has lost the mapping and upnpmap
// has not yet restored it.
func (m *Manager) GetMapping(a ma.Multiaddr) ma.Multiaddr {
	la, ok := parseListen(a)
	if !ok {
		return nil
	}
	ext, ok := m.table.Get(la.key)
	if !ok {
		return nil
	}
	out, ok := la.external(ext)
	if !ok {
		return nil
	}
	return out
}

// Close stops following the listen addresses and deletes every mapping (each
// within the Client's CloseTimeout). A mapping being made when Close is
// called is waited for (at most mapTimeout, 15 s) and deleted too, so that
// nothing is left on the router. It is idempotent.
func (m *Manager) Close() error {
	m.close.Do(func() {
		m.cancel()
		<-m.done
		m.err = m.table.Close()
	})
	return m.err
}

func (m *Manager) log() *slog.Logger {
	if m.client.Logger != nil {
		return m.client.Logger
	}
	return slog.New(slog.DiscardHandler)
}
