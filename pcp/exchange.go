package pcp

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/upnpmap/upnpmap/internal/epoch"
	"github.com/upnpmap/upnpmap/internal/udpx"
)

// server returns the configured server with the default port.
func (c *Client) server() (netip.AddrPort, error) {
	a := c.Server.Addr()
	if !a.IsValid() {
		return netip.AddrPort{}, fmt.Errorf("pcp: Client.Server not set: %w", ErrNoGateway)
	}
	port := c.Server.Port()
	if port == 0 {
		port = Port
	}
	// A zone stays for dialing a link-local server; udpx compares without it.
	return netip.AddrPortFrom(a.Unmap(), port), nil
}

// exchange runs one request/response exchange. build makes the request for
// the socket's local address; match says whether a response with opcode
// data answers it. The response returned is a SUCCESS; every other result
// comes back as an error.
//
// once sends the request a single time (see stallRisk); the wait is then
// bounded by the context or MaxDuration alone.
func (c *Client) exchange(ctx context.Context, op uint8, once bool, build func(client netip.Addr) ([]byte, error), match func(*Response) bool) (*Response, error) {
	srv, err := c.server()
	if err != nil {
		return nil, err
	}
	if err := c.lock.Lock(ctx); err != nil {
		return nil, fmt.Errorf("pcp: %s: %w", opName(op), udpx.LockError(err))
	}
	defer c.lock.Unlock()

	conn, err := udpx.DialFrom(ctx, c.LocalAddr, srv)
	if err != nil {
		return nil, fmt.Errorf("pcp: %s: %w", opName(op), err)
	}
	defer conn.Close()
	req, err := build(conn.LocalAddr().Addr())
	if err != nil {
		return nil, err
	}

	var (
		result *Response
		rerr   error
	)
	handle := func(b []byte) bool {
		r, err := ParseResponse(b)
		switch {
		case errors.Is(err, ErrSpeaksNATPMP):
			rerr = fmt.Errorf("pcp: %s: %w", opName(op), err)
			return true
		case err != nil:
			c.debug("ignoring a malformed response", "err", err)
			return false
		case r.Version != Version:
			// UNSUPP_VERSION naming another version (§9). Opcode data is
			// not to be trusted across versions, so nothing else is checked.
			rerr = &ResultError{Opcode: op, Code: r.Result, Lifetime: r.Lifetime, Version: r.Version}
			return true
		case r.Opcode != op:
			c.debug("ignoring a response to another opcode", "want", op, "got", r.Opcode)
			return false
		case (r.HasData || r.Result == Success) && !match(r):
			c.debug("ignoring a response for another mapping", "nonce", r.Nonce, "protocol", r.Protocol, "port", r.InternalPort)
			return false
		}
		c.observeEpoch(r.Epoch)
		c.debugReply(r)
		result, rerr = r, r.Err()
		return true
	}
	c.debugRequest(srv, op, req)
	s := &schedule{irt: c.InitialTimeout, mrt: c.MaxTimeout, rand: c.rand}
	if s.irt <= 0 {
		s.irt = DefaultInitialTimeout
	}
	if s.mrt <= 0 {
		s.mrt = DefaultMaxTimeout
	}
	next := s.next
	if once {
		next = sendOnce()
		c.debug("sending once: a request for a port below 1024 may stall the server", "op", opName(op))
	}
	ex := &udpx.Exchange{
		Request: req,
		Next:    next,
		Handle:  handle,
		BufSize: MaxMessageSize + 1,
		Retransmit: func(attempt int, wait time.Duration) {
			c.debug("retransmitting", "op", opName(op), "server", srv, "attempt", attempt, "wait", wait)
		},
	}
	if _, ok := ctx.Deadline(); !ok {
		d := c.MaxDuration
		if d <= 0 {
			d = DefaultMaxDuration
		}
		ex.Deadline = time.Now().Add(d)
	}
	err = conn.Do(ctx, ex)
	switch {
	case errors.Is(err, udpx.ErrRefused):
		return nil, fmt.Errorf("pcp: %s: %v closed: %w: %w", opName(op), srv, ErrUnsupported, err)
	case err != nil:
		return nil, fmt.Errorf("pcp: %s: %v: %w", opName(op), srv, err)
	case rerr != nil:
		return nil, rerr
	}
	return result, nil
}

// privilegedPorts ends the ports that miniupnpd's default permission rules
// deny ("allow 1024-65535 …"): a PCP (or NAT-PMP) request for one makes it
// walk every external port before it answers NOT_AUTHORIZED, about 45 s in
// which it answers nobody, and each retransmission queues another 45 s.
const privilegedPorts = 1024

// stallRisk reports whether a MAP request asks for a mapping (lifetime > 0)
// whose internal or suggested external port is below privilegedPorts. Such a
// request is sent once: a deliberate deviation from §8.1.1, since a lost
// datagram costs the caller a timeout while a retransmission costs every
// host on the LAN 45 s.
func stallRisk(req *MapRequest) bool {
	sugg := req.SuggestedExternal.Port()
	return req.Lifetime > 0 && (req.InternalPort < privilegedPorts || (sugg != 0 && sugg < privilegedPorts))
}

// sendOnce is a schedule of one transmission whose wait only the context or
// MaxDuration ends.
func sendOnce() func() (time.Duration, bool) {
	sent := false
	return func() (time.Duration, bool) {
		if sent {
			return 0, false
		}
		sent = true
		return DefaultMaxTimeout, true
	}
}

// observeEpoch runs the §8.5 check; a loss of state stays pending until
// takeReset reports it (so a reset seen in an error response is not lost).
func (c *Client) observeEpoch(e uint32) {
	now := time.Now
	if c.now != nil {
		now = c.now
	}
	if c.epoch.Observe(epoch.PCP, e, now()) {
		c.debug("server lost its state (epoch check failed)", "epoch", e)
	}
}

// takeReset returns and clears the pending loss-of-state report.
func (c *Client) takeReset() bool { return c.epoch.TakeReset() }

// debugRequest records a request about to be sent, so that -v shows every
// exchange (the CLI's logger stamps each record with the time since start).
func (c *Client) debugRequest(srv netip.AddrPort, op uint8, req []byte) {
	if c.Logger == nil {
		return
	}
	args := []any{"op", opName(op), "server", srv, "bytes", len(req)}
	if len(req) >= headerSize {
		args = append(args, "lifetime", time.Duration(binary.BigEndian.Uint32(req[4:8]))*time.Second)
	}
	if op != OpAnnounce && len(req) >= headerSize+mapSize {
		d := req[headerSize:]
		args = append(args, "nonce", hex.EncodeToString(d[:12]), "protocol", d[12],
			"internal_port", binary.BigEndian.Uint16(d[16:18]), "suggested_port", binary.BigEndian.Uint16(d[18:20]))
	}
	c.debug("request", args...)
}

// debugReply records the reply that answers a request.
func (c *Client) debugReply(r *Response) {
	if c.Logger == nil {
		return
	}
	args := []any{"op", opName(r.Opcode), "result", r.Result, "epoch", r.Epoch, "lifetime", r.Lifetime}
	if r.HasData {
		args = append(args, "external", r.External, "internal_port", r.InternalPort)
	}
	c.debug("reply", args...)
}

func (c *Client) debug(msg string, args ...any) {
	if c.Logger != nil {
		c.Logger.Debug("pcp: "+msg, args...)
	}
}
