package upnpmap

import (
	"context"
	"net/netip"
)

// defaultClient serves the package-level functions: a zero Client (the
// gateway from the routing table, every method, silent).
var defaultClient = new(Client)

// Discover probes the default gateway; see Client.Discover.
func Discover(ctx context.Context) (*DiscoverResult, error) { return defaultClient.Discover(ctx) }

// Map opens a port on the default gateway and keeps it open until the
// Mapping is closed; see Client.Map.
func Map(ctx context.Context, r Request) (*Mapping, error) { return defaultClient.Map(ctx, r) }

// ExternalAddr returns the default gateway's external address; see
// Client.ExternalAddr.
func ExternalAddr(ctx context.Context) (netip.Addr, error) { return defaultClient.ExternalAddr(ctx) }
