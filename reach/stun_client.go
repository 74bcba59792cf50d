package reach

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"syscall"
	"time"
)

// STUN client timing (RFC 8489 §6.2.1): the first retransmission after
// stunRTO, each later one after twice the previous wait, at most stunSends
// requests in all. stunTimeout bounds the whole exchange when the context has
// no deadline.
const (
	stunRTO     = 500 * time.Millisecond
	stunSends   = 7
	stunTimeout = 10 * time.Second
)

// STUN sends a Binding request to server ("host[:port]", port 3478 by
// default) and returns the address it saw the request come from. Any STUN
// server works, a reach checker included. Errors wrap ErrCheckerDown (ICMP
// unreachable), ErrCheckerSlow (no answer before ctx ended), ErrBadAnswer or
// ErrSTUN (*STUNError).
func STUN(ctx context.Context, server string) (netip.AddrPort, error) {
	r, err := stunExchange(ctx, server, nil)
	return r.mapped, err
}

func stunExchange(ctx context.Context, server string, extra []byte) (stunReply, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, stunTimeout)
		defer cancel()
	}
	host, port, err := splitHostPortDefault(server)
	if err != nil {
		return stunReply{}, fmt.Errorf("reach: STUN server %q: %w", server, err)
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "udp", net.JoinHostPort(host, strconv.Itoa(int(port))))
	if err != nil {
		return stunReply{}, fmt.Errorf("%w: %v", ErrCheckerDown, err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()

	var id stunTxID
	binary.BigEndian.PutUint32(id[:4], stunCookie)
	rand.Read(id[4:])
	req := appendSTUNHeader(make([]byte, 0, stunHeaderLen+len(extra)), stunBindingRequest, id)
	req = finishSTUN(append(req, extra...), 0)

	buf := make([]byte, stunMaxMessage+1)
	wait := stunRTO
	for sent := 0; ; {
		if sent < stunSends {
			if _, err := c.Write(req); err != nil {
				return stunReply{}, stunNetErr(ctx, err)
			}
			sent++
			c.SetReadDeadline(time.Now().Add(wait))
			wait *= 2
		} else {
			c.SetReadDeadline(time.Time{}) // wait for ctx alone
		}
		if ctx.Err() != nil {
			return stunReply{}, stunNetErr(ctx, ctx.Err())
		}
		n, err := c.Read(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && ctx.Err() == nil {
				continue // retransmit
			}
			return stunReply{}, stunNetErr(ctx, err)
		}
		if _, got, _, err := stunFrame(buf[:n]); err == nil && got != id {
			continue // a well-formed answer to another request: keep waiting
		}
		return parseSTUNResponse(buf[:n], id)
	}
}

func stunNetErr(ctx context.Context, err error) error {
	if errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("%w: %v", ErrCheckerDown, err)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%w: %w", ErrCheckerSlow, ctx.Err())
	}
	return fmt.Errorf("%w: %v", ErrCheckerDown, err)
}
