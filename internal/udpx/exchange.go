package udpx

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/upnpmap/upnpmap/internal/errs"
)

// Exchange describes one request and how to wait for its answer.
type Exchange struct {
	// Request is the datagram sent on every attempt.
	Request []byte
	// Next returns how long to wait for an answer after the next transmission,
	// or ok=false when no transmission is left (the exchange then fails with
	// errs.Timeout).
	Next func() (wait time.Duration, ok bool)
	// Handle sees every datagram from the peer, in order. It returns true when
	// the datagram answers the request (the handler has kept whatever result
	// or error it carries); false means "not ours, keep waiting". b is reused
	// after Handle returns.
	Handle func(b []byte) (done bool)
	// Deadline, if not zero, ends the exchange with errs.Timeout even when the
	// context has no deadline (PCP's maximum retransmission duration).
	Deadline time.Time
	// BufSize is the receive buffer size. Callers pass their protocol's
	// maximum plus one so an oversized datagram shows up as too long instead
	// of being truncated into something that parses.
	BufSize int
	// Retransmit, if set, is called before every transmission after the
	// first (for logging).
	Retransmit func(attempt int, wait time.Duration)
}

// Do runs the exchange on c: send, wait, resend on schedule, until Handle
// accepts a datagram, the schedule or Deadline runs out, the peer's port turns
// out to be closed, or ctx ends. The errors wrap errs.Timeout (with
// context.DeadlineExceeded when the context's deadline ended it),
// context.Canceled, or ErrRefused. Do starts no goroutine that
// outlives it.
func (c *Conn) Do(ctx context.Context, ex *Exchange) error {
	if err := ctx.Err(); err != nil {
		return ctxError(0, err)
	}
	// The context may end while a read blocks. AfterFunc pulls the read
	// deadline into the past; fired reports whether it ran, so that we can
	// wait for it and leave no goroutine behind.
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		c.cancel()
		close(fired)
	})
	defer func() {
		if !stop() {
			<-fired
		}
	}()

	buf := make([]byte, ex.BufSize)
	for attempt := 1; ; attempt++ {
		wait, ok := ex.Next()
		if !ok {
			return fmt.Errorf("%w (%d attempts)", errs.Timeout, attempt-1)
		}
		if err := ctx.Err(); err != nil {
			return ctxError(attempt-1, err)
		}
		if attempt > 1 && ex.Retransmit != nil {
			ex.Retransmit(attempt, wait)
		}
		if err := c.send(ex.Request); err != nil {
			return c.ioError(ctx, attempt, err)
		}
		end := time.Now().Add(wait)
		final := false
		if !ex.Deadline.IsZero() && !end.Before(ex.Deadline) {
			end, final = ex.Deadline, true
		}
		for {
			n, err := c.recv(buf, end)
			if err == errAttemptOver {
				if err := ctx.Err(); err != nil {
					return ctxError(attempt, err)
				}
				if final {
					return fmt.Errorf("%w (%d attempts, budget spent)", errs.Timeout, attempt)
				}
				break
			}
			if err != nil {
				return c.ioError(ctx, attempt, err)
			}
			if ex.Handle(buf[:n]) {
				return nil
			}
		}
	}
}

// ioError classifies a socket error: the context's end wins over whatever the
// cancelled read reported.
func (c *Conn) ioError(ctx context.Context, attempt int, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return ctxError(attempt, cerr)
	}
	if !errors.Is(err, ErrRefused) && isRefused(err) {
		err = fmt.Errorf("%w: %w", ErrRefused, err)
	}
	return err
}

// ctxError reports the context's end: a deadline is a timeout (errs.Timeout
// and context.DeadlineExceeded); a cancellation is the caller's doing and
// wraps context.Canceled alone, as package igd does.
func ctxError(attempts int, err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w (%d attempts): %w", errs.Timeout, attempts, err)
	}
	return fmt.Errorf("gave up after %d attempts: %w", attempts, err)
}

// LockError is what a client returns when its context ends while it waits
// for the previous exchange: like ctxError, a timeout only on a deadline.
func LockError(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("waiting for the previous request: %w: %w", errs.Timeout, err)
	}
	return fmt.Errorf("waiting for the previous request: %w", err)
}
