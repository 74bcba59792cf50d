package pcp

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
	DefaultInitialTimeout = 3 * time.Second    // IRT, §8.1.1
	DefaultMaxTimeout     = 1024 * time.Second // MRT, §8.1.1
	// DefaultMaxDuration bounds an exchange whose context has no deadline.
	// RFC 6887 sets MRD = 0 (retransmit for ever); a client that must fall
	// back to another protocol cannot, so this is a documented deviation.
	DefaultMaxDuration = 15 * time.Second
)

// Client talks PCP to one server. Its zero value needs only Server set. It is
// safe for concurrent use and runs one exchange at a time; others wait their
// turn or give up when their context ends. Each exchange uses a fresh UDP
// socket, connected to the server and closed before the call returns: its
// local address is the client address the request header carries (§8.1), so
// the server sees no ADDRESS_MISMATCH unless another NAT is on the way. A
// Client holds nothing open between calls and needs no Close; it must not be
// copied after first use.
type Client struct {
	// Server is the PCP server, normally the default gateway; IPv4 or IPv6.
	// Required; port 0 means 5351. Nothing here falls back to the routing
	// table.
	Server netip.AddrPort
	// InitialTimeout is IRT, the wait after the first transmission. Each
	// later wait is about twice the one before (§8.1.1). Default 3 s.
	InitialTimeout time.Duration
	// MaxTimeout is MRT, the longest wait between transmissions. Default 1024 s.
	MaxTimeout time.Duration
	// MaxDuration bounds an exchange when the context has no deadline
	// (otherwise the deadline does). Default 15 s; see DefaultMaxDuration.
	MaxDuration time.Duration
	// LocalAddr, if set, is the address requests are sent from. The server
	// takes the client address from the packet's source, so a MAP for an
	// IPv6 pinhole must leave from the address being opened: left to the
	// kernel, it may leave from a temporary or link-local address, and the
	// router opens that one instead. Zero: the kernel chooses.
	LocalAddr netip.Addr
	// Logger receives debug records about retransmissions and ignored
	// packets. Nil means silent.
	Logger *slog.Logger

	lock udpx.Lock // one exchange at a time

	epoch epoch.Watch // the server's epoch, §8.5

	// Test hooks.
	now  func() time.Time // nil = time.Now
	rand func() float64   // RAND of §8.1.1; nil = uniform in [-0.1, +0.1]
}

// Map asks for a mapping, or renews one when req.Nonce is a previous
// response's. A response counts only if it echoes the opcode, nonce,
// protocol and internal port; others are ignored and the wait goes on.
func (c *Client) Map(ctx context.Context, req MapRequest) (*MapResponse, error) {
	if req.Nonce.IsZero() {
		if req.Lifetime <= 0 {
			return nil, errors.New("pcp: a delete (Lifetime 0) needs the mapping's Nonce")
		}
		req.Nonce = NewNonce()
	}
	build := func(client netip.Addr) ([]byte, error) {
		if req.ClientAddr.IsValid() {
			client = req.ClientAddr // the address seen beyond another NAT
		}
		return AppendMapRequest(nil, client, &req)
	}
	r, err := c.exchange(ctx, OpMap, stallRisk(&req), build, func(r *Response) bool {
		return r.Nonce == req.Nonce && r.Protocol == req.Protocol && r.InternalPort == req.InternalPort
	})
	if err != nil {
		return nil, err
	}
	return &MapResponse{
		Nonce:        r.Nonce,
		Protocol:     r.Protocol,
		InternalPort: r.InternalPort,
		External:     r.External,
		Lifetime:     r.Lifetime,
		Epoch:        r.Epoch,
		GatewayReset: c.takeReset(),
		ThirdParty:   req.ThirdParty,
		ClientAddr:   req.ClientAddr,
	}, nil
}

// Delete removes the mapping m describes: a MAP with lifetime 0 and m's
// nonce, protocol, internal port and THIRD_PARTY address (§15).
//
// It returns nil when the server answers SUCCESS, which RFC 6887 also
// prescribes for a mapping that does not exist. miniupnpd instead answers
// NO_RESOURCES there; Delete then returns an error that matches both
// ErrNoResources (it holds the *ResultError) and ErrNoSuchEntry, so a caller
// cleaning up can test errors.Is(err, ErrNoSuchEntry) and treat the mapping
// as gone. NOT_AUTHORIZED usually means another nonce owns the mapping.
func (c *Client) Delete(ctx context.Context, m *MapResponse) error {
	_, err := c.Map(ctx, MapRequest{
		Protocol:          m.Protocol,
		InternalPort:      m.InternalPort,
		SuggestedExternal: m.External,
		Nonce:             m.Nonce,
		ThirdParty:        m.ThirdParty,
		ClientAddr:        m.ClientAddr,
	})
	var re *ResultError
	if errors.As(err, &re) && re.Code == NoResources {
		return fmt.Errorf("%w: %w", ErrNoSuchEntry, err)
	}
	return err
}

// Peer sends a PEER request. A response counts only if it echoes the opcode,
// nonce, protocol, internal port and remote peer.
func (c *Client) Peer(ctx context.Context, req PeerRequest) (*PeerResponse, error) {
	if req.Nonce.IsZero() {
		req.Nonce = NewNonce()
	}
	remote := netip.AddrPortFrom(req.Remote.Addr().Unmap().WithZone(""), req.Remote.Port())
	build := func(client netip.Addr) ([]byte, error) { return AppendPeerRequest(nil, client, &req) }
	r, err := c.exchange(ctx, OpPeer, false, build, func(r *Response) bool {
		return r.Nonce == req.Nonce && r.Protocol == req.Protocol &&
			r.InternalPort == req.InternalPort && r.Remote == remote
	})
	if err != nil {
		return nil, err
	}
	return &PeerResponse{
		Nonce:        r.Nonce,
		Protocol:     r.Protocol,
		InternalPort: r.InternalPort,
		External:     r.External,
		Remote:       r.Remote,
		Lifetime:     r.Lifetime,
		Epoch:        r.Epoch,
		GatewayReset: c.takeReset(),
	}, nil
}

// Announce sends an ANNOUNCE request (§14.1): the cheapest way to learn
// whether the server speaks PCP, and to check its epoch.
func (c *Client) Announce(ctx context.Context) (*AnnounceResponse, error) {
	build := func(client netip.Addr) ([]byte, error) { return AppendAnnounceRequest(nil, client), nil }
	r, err := c.exchange(ctx, OpAnnounce, false, build, func(*Response) bool { return true })
	if err != nil {
		return nil, err
	}
	return &AnnounceResponse{Epoch: r.Epoch, GatewayReset: c.takeReset()}, nil
}
