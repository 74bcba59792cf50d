package natpmp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/upnpmap/upnpmap/internal/epoch"
	"github.com/upnpmap/upnpmap/internal/udpx"
)

// gateway returns the configured gateway with the default port.
func (c *Client) gateway() (netip.AddrPort, error) {
	a := c.Gateway.Addr().Unmap()
	if !a.Is4() {
		return netip.AddrPort{}, fmt.Errorf("natpmp: Client.Gateway %v is not an IPv4 address: %w", c.Gateway, ErrNoGateway)
	}
	port := c.Gateway.Port()
	if port == 0 {
		port = Port
	}
	return netip.AddrPortFrom(a, port), nil
}

// exchange sends req and returns the successful response that answers it.
// A response with another opcode, another internal port, or that does not
// parse is ignored (logged at debug level); the wait goes on.
func (c *Client) exchange(ctx context.Context, req []byte, op uint8, internalPort uint16) (*Response, error) {
	gw, err := c.gateway()
	if err != nil {
		return nil, err
	}
	if err := c.lock.Lock(ctx); err != nil {
		return nil, fmt.Errorf("natpmp: %s: %w", opName(op), udpx.LockError(err))
	}
	defer c.lock.Unlock()

	conn, err := udpx.Dial(ctx, gw)
	if err != nil {
		return nil, fmt.Errorf("natpmp: %s: %w", opName(op), err)
	}
	defer conn.Close()

	var (
		result *Response
		rerr   error
	)
	handle := func(b []byte) bool {
		if len(b) > 0 && b[0] != Version {
			if pcpUnsupportedVersion(b) {
				// A PCP-only server refusing version 0 (RFC 6887 §9).
				rerr = &ResultError{Op: op, Code: UnsupportedVersion}
				return true
			}
			c.debug("ignoring a non-NAT-PMP packet", "version", b[0], "len", len(b))
			return false
		}
		r, err := ParseResponse(b)
		if err != nil {
			c.debug("ignoring a malformed response", "err", err)
			return false
		}
		// The unsupported-version reply's opcode is 0 in RFC 6886's figure
		// but 128+op from miniupnpd: accept it whatever the opcode.
		if r.Result == UnsupportedVersion {
			rerr = &ResultError{Op: op, Code: UnsupportedVersion}
			return true
		}
		if r.Op != op {
			c.debug("ignoring a response to another opcode", "want", op, "got", r.Op)
			return false
		}
		if r.Result == Success && op != OpExternalAddress && r.InternalPort != internalPort {
			c.debug("ignoring a response for another internal port", "want", internalPort, "got", r.InternalPort)
			return false
		}
		c.observeEpoch(r.Epoch)
		c.debugReply(r)
		result, rerr = r, r.Err()
		return true
	}
	c.debugRequest(gw, op, req)
	sched := c.schedule()
	if stallRisk(op, req) {
		sched = onceFor(sched)
		c.debug("sending once: a request for a port below 1024 may stall the gateway", "op", opName(op))
	}
	err = conn.Do(ctx, &udpx.Exchange{
		Request: req,
		Next:    sched,
		Handle:  handle,
		BufSize: maxDatagram + 1,
		Retransmit: func(attempt int, wait time.Duration) {
			c.debug("retransmitting", "op", opName(op), "gateway", gw, "attempt", attempt, "wait", wait)
		},
	})
	switch {
	case errors.Is(err, udpx.ErrRefused):
		return nil, fmt.Errorf("natpmp: %s: %v closed: %w: %w", opName(op), gw, ErrUnsupported, err)
	case err != nil:
		return nil, fmt.Errorf("natpmp: %s: %v: %w", opName(op), gw, err)
	case rerr != nil:
		return nil, rerr
	}
	return result, nil
}

// schedule returns the §3.1 retransmission schedule: InitialTimeout, doubling,
// MaxAttempts transmissions.
func (c *Client) schedule() func() (time.Duration, bool) {
	wait := c.InitialTimeout
	if wait <= 0 {
		wait = DefaultInitialTimeout
	}
	attempts := c.MaxAttempts
	if attempts <= 0 {
		attempts = DefaultMaxAttempts
	}
	n := 0
	return func() (time.Duration, bool) {
		if n >= attempts {
			return 0, false
		}
		n++
		w := wait
		wait *= 2
		return w, true
	}
}

// privilegedPorts ends the ports that miniupnpd's default permission rules
// deny ("allow 1024-65535 …"): a NAT-PMP or PCP request for one makes it walk
// every external port before it answers NOT_AUTHORIZED, about 45 s in which
// it answers nobody, and each retransmission queues another 45 s.
const privilegedPorts = 1024

// stallRisk reports whether req asks for a mapping (lifetime > 0) whose
// internal or suggested external port is below privilegedPorts.
func stallRisk(op uint8, req []byte) bool {
	if op != OpMapUDP && op != OpMapTCP || len(req) < mapRequestSize {
		return false
	}
	internal := binary.BigEndian.Uint16(req[4:6])
	suggested := binary.BigEndian.Uint16(req[6:8])
	lifetime := binary.BigEndian.Uint32(req[8:12])
	return lifetime > 0 && (internal < privilegedPorts || (suggested != 0 && suggested < privilegedPorts))
}

// onceFor turns a retransmission schedule into one transmission that waits
// as long as the whole schedule would have (the context still bounds it).
// RFC 6886 §3.1 and RFC 6887 §8.1.1 retransmit; for a request that may stall
// a miniupnpd gateway this is a deliberate deviation: a lost datagram costs
// the caller a timeout, a retransmission costs every host on the LAN 45 s.
func onceFor(sched func() (time.Duration, bool)) func() (time.Duration, bool) {
	var total time.Duration
	for {
		w, ok := sched()
		if !ok {
			break
		}
		total += w
	}
	sent := false
	return func() (time.Duration, bool) {
		if sent {
			return 0, false
		}
		sent = true
		return total, true
	}
}

// pcpUnsupportedVersion reports whether b is a PCP response header with
// result UNSUPP_VERSION: R bit set and result code 1 in the fourth byte.
func pcpUnsupportedVersion(b []byte) bool {
	return len(b) >= 24 && b[1]&0x80 != 0 && b[3] == 1
}

// observeEpoch runs the §3.6 check on an SSSoE the gateway just sent; a loss
// of state stays pending until takeReset reports it.
func (c *Client) observeEpoch(sssoe uint32) {
	now := time.Now
	if c.now != nil {
		now = c.now
	}
	if c.epoch.Observe(epoch.NATPMP, sssoe, now()) {
		c.debug("gateway lost its state (epoch went back)", "sssoe", sssoe)
	}
}

// takeReset returns and clears the pending loss-of-state report.
func (c *Client) takeReset() bool { return c.epoch.TakeReset() }

// debugRequest records a request about to be sent, so that -v shows every
// exchange (the CLI's logger stamps each record with the time since start).
func (c *Client) debugRequest(gw netip.AddrPort, op uint8, req []byte) {
	if c.Logger == nil {
		return
	}
	args := []any{"op", opName(op), "gateway", gw, "bytes", len(req)}
	if op != OpExternalAddress && len(req) >= mapRequestSize {
		args = append(args,
			"internal_port", binary.BigEndian.Uint16(req[4:6]),
			"suggested_port", binary.BigEndian.Uint16(req[6:8]),
			"lifetime", time.Duration(binary.BigEndian.Uint32(req[8:12]))*time.Second)
	}
	c.debug("request", args...)
}

// debugReply records the reply that answers a request.
func (c *Client) debugReply(r *Response) {
	if c.Logger == nil {
		return
	}
	args := []any{"op", opName(r.Op), "result", r.Result, "epoch", r.Epoch}
	switch {
	case r.Result != Success:
	case r.Op == OpExternalAddress:
		args = append(args, "external", r.ExternalAddr)
	default:
		args = append(args, "internal_port", r.InternalPort, "external_port", r.ExternalPort, "lifetime", r.Lifetime)
	}
	c.debug("reply", args...)
}

func (c *Client) debug(msg string, args ...any) {
	if c.Logger != nil {
		c.Logger.Debug("natpmp: "+msg, args...)
	}
}
