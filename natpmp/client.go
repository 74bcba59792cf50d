package natpmp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/upnpmap/upnpmap/internal/epoch"
	"github.com/upnpmap/upnpmap/internal/udpx"
)

// Defaults for the Client's zero fields.
const (
	DefaultInitialTimeout = 250 * time.Millisecond // RFC 6886 §3.1
	DefaultMaxAttempts    = 9                      // RFC 6886 §3.1
)

// maxDatagram bounds reads: every NAT-PMP response is at most 16 bytes, and a
// PCP server's "unsupported version" reply at most 1100.
const maxDatagram = 1100

// Client talks NAT-PMP to one gateway. Its zero value needs only Gateway set.
// It is safe for concurrent use and sends one request at a time (RFC 6886
// §3.1); others wait their turn, or give up when their context ends. Each
// request uses a fresh UDP socket that is closed before the call returns, so
// a Client holds nothing open between calls and needs no Close. A Client
// must not be copied after first use.
type Client struct {
	// Gateway is the gateway's address. Required; IPv4 only (NAT-PMP has no
	// IPv6). Port 0 means 5351. Nothing defaults to the routing table here:
	// finding the gateway is the caller's job (package discovery).
	Gateway netip.AddrPort
	// InitialTimeout is the wait after the first transmission; it doubles
	// after each further one. Default 250 ms (RFC 6886 §3.1).
	InitialTimeout time.Duration
	// MaxAttempts is how many times a request is sent. Default 9, after which
	// the RFC's schedule has waited about 128 s in all; the context bounds
	// the exchange in any case.
	MaxAttempts int
	// Logger receives debug records about retransmissions and ignored
	// packets. Nil means silent.
	Logger *slog.Logger

	lock udpx.Lock // one exchange at a time

	epoch epoch.Watch      // the gateway's SSSoE, §3.6
	now   func() time.Time // for tests; nil = time.Now
}

// ExternalAddressResponse is the answer to an external address request, or an
// announcement.
type ExternalAddressResponse struct {
	Addr  netip.Addr
	Epoch uint32 // the gateway's seconds since start of epoch
	// GatewayReset reports that, by the §3.6 epoch check, the gateway lost
	// its state since this Client last heard from it: every mapping must be
	// created again (§3.7).
	GatewayReset bool
}

// MapResponse is a successful mapping response.
type MapResponse struct {
	Protocol     Protocol
	InternalPort uint16
	ExternalPort uint16        // what the gateway granted; may differ from the suggestion
	Lifetime     time.Duration // what the gateway granted; renew at half of it
	Epoch        uint32
	GatewayReset bool // as in ExternalAddressResponse
}

// ExternalAddress asks the gateway for its external IPv4 address (§3.2).
func (c *Client) ExternalAddress(ctx context.Context) (*ExternalAddressResponse, error) {
	r, err := c.exchange(ctx, AppendExternalAddressRequest(nil), OpExternalAddress, 0)
	if err != nil {
		return nil, err
	}
	return &ExternalAddressResponse{Addr: r.ExternalAddr, Epoch: r.Epoch, GatewayReset: c.takeReset()}, nil
}

// Map asks for a mapping of internalPort (on this host) to an external port,
// suggesting suggestedExternalPort (0 = no preference) and lifetime (sent in
// whole seconds, rounded up; RFC 6886 recommends 2 h). The gateway may grant
// another port and a shorter lifetime; use the response's values, and renew
// at half the lifetime suggesting the granted port (§3.3).
func (c *Client) Map(ctx context.Context, proto Protocol, internalPort, suggestedExternalPort uint16, lifetime time.Duration) (*MapResponse, error) {
	if err := checkProto(proto); err != nil {
		return nil, err
	}
	if internalPort == 0 {
		return nil, errors.New("natpmp: Map: internal port 0 is not a mapping (DeleteAll uses it)")
	}
	if lifetime <= 0 {
		return nil, errors.New("natpmp: Map: lifetime must be positive (Delete removes a mapping)")
	}
	req := AppendMapRequest(nil, proto, internalPort, suggestedExternalPort, lifetime)
	r, err := c.exchange(ctx, req, uint8(proto), internalPort)
	if err != nil {
		return nil, err
	}
	return &MapResponse{
		Protocol:     proto,
		InternalPort: r.InternalPort,
		ExternalPort: r.ExternalPort,
		Lifetime:     r.Lifetime,
		Epoch:        r.Epoch,
		GatewayReset: c.takeReset(),
	}, nil
}

// Delete removes this host's mapping of internalPort (§3.4: lifetime 0,
// suggested external port 0). Deleting a mapping that does not exist
// succeeds; a mapping the gateway's administrator made gets NotAuthorized.
// A loss of gateway state seen in the reply is kept and reported by the next
// ExternalAddress or Map response.
func (c *Client) Delete(ctx context.Context, proto Protocol, internalPort uint16) error {
	if err := checkProto(proto); err != nil {
		return err
	}
	if internalPort == 0 {
		return errors.New("natpmp: Delete: internal port 0 means every mapping; use DeleteAll")
	}
	_, err := c.exchange(ctx, AppendMapRequest(nil, proto, internalPort, 0, 0), uint8(proto), internalPort)
	return err
}

// DeleteAll removes all of this host's mappings for proto (§3.4: internal
// port 0, lifetime 0). miniupnpd removes the host's NAT-PMP mappings of both
// protocols on either request.
func (c *Client) DeleteAll(ctx context.Context, proto Protocol) error {
	if err := checkProto(proto); err != nil {
		return err
	}
	_, err := c.exchange(ctx, AppendMapRequest(nil, proto, 0, 0, 0), uint8(proto), 0)
	return err
}

func checkProto(p Protocol) error {
	if p != UDP && p != TCP {
		return fmt.Errorf("natpmp: protocol %d is neither UDP nor TCP", uint8(p))
	}
	return nil
}
