// Package geth lets go-ethereum (and its forks) map ports with upnpmap: NAT
// satisfies p2p/nat.Interface, so it goes where geth takes one
// (p2p.Config.NAT) or is passed to nat.Map.
//
// What changes for geth: PCP is spoken as well as NAT-PMP and UPnP (geth's
// nat.Any races UPnP and NAT-PMP), the first answer is used at once, and the
// mapping is renewed by upnpmap and re-created after a router reboot — between
// geth's own refreshes, which find the live mapping and cost no request.
package geth

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/p2p/nat"

	"github.com/upnpmap/upnpmap"
	"github.com/upnpmap/upnpmap/adapters/internal/table"
)

// callTimeout bounds each nat.Interface call, which takes no context: long
// enough for the probe and for falling back through the three methods.
const callTimeout = 15 * time.Second

// NAT maps ports with an upnpmap Client. The zero value uses a zero Client
// (the default gateway, PCP, NAT-PMP and UPnP); its methods are safe for
// concurrent use. Close deletes every mapping it made.
type NAT struct {
	// Client is the upnpmap Client to map with; nil means a zero Client. Set
	// it before first use.
	Client *upnpmap.Client

	once  sync.Once
	table *table.Table
}

var _ nat.Interface = (*NAT)(nil)

// New returns a NAT that maps with c (nil: a zero Client).
func New(c *upnpmap.Client) *NAT { return &NAT{Client: c} }

func (n *NAT) tab() *table.Table {
	n.once.Do(func() { n.table = table.New(n.Client) })
	return n.table
}

// AddMapping maps intport of this machine, asking for extport (intport when
// 0), for lifetime (upnpmap's default when 0), and keeps it renewed until
// DeleteMapping or Close. It returns the external port granted, which may
// differ from extport. Called again for the same protocol and intport — geth
// refreshes every few minutes — it returns the live mapping's current port (a
// new one if the router moved it when restoring it) without asking the router;
// while the router has lost the mapping and upnpmap is restoring it, the error
// wraps table.ErrLost. Errors wrap upnpmap's sentinels.
func (n *NAT) AddMapping(protocol string, extport, intport int, name string, lifetime time.Duration) (uint16, error) {
	k, err := table.KeyOf(protocol, intport)
	if err != nil {
		return 0, err
	}
	if extport < 0 || extport > 65535 {
		return 0, fmt.Errorf("external port %d: %w", extport, upnpmap.ErrInvalidArgs)
	}
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	ext, err := n.tab().Add(ctx, k, uint16(extport), name, lifetime)
	if err != nil {
		return 0, err
	}
	return ext.Port(), nil
}

// DeleteMapping deletes the mapping AddMapping made for protocol and intport
// (geth's extport is not needed to find it) and stops renewing it; nil if
// there is none.
func (n *NAT) DeleteMapping(protocol string, extport, intport int) error {
	k, err := table.KeyOf(protocol, intport)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	return n.tab().Remove(ctx, k)
}

// ExternalIP asks the gateway for its external address
// (upnpmap.Client.ExternalAddr). When the gateway does not tell it (some
// PCP-only routers), the address granted to one of our mappings answers.
func (n *NAT) ExternalIP() (net.IP, error) {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	t := n.tab()
	a, err := t.Client().ExternalAddr(ctx)
	if err == nil && a.IsValid() && !a.IsUnspecified() {
		return net.IP(a.Unmap().AsSlice()), nil
	}
	if a, ok := t.Any(); ok {
		return net.IP(a.Unmap().AsSlice()), nil
	}
	if err == nil {
		err = errors.New("the gateway reported no external address")
	}
	return nil, err
}

// String names the adapter in geth's logs.
func (n *NAT) String() string { return "upnpmap" }

// Close deletes every mapping this NAT made. geth's nat.Interface has no
// Close: call it after the p2p.Server has stopped. An AddMapping under way in
// another goroutine is waited for, and what it made deleted too. Later
// AddMapping calls fail.
func (n *NAT) Close() error { return n.tab().Close() }
