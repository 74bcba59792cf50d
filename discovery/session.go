package discovery

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/upnpmap/upnpmap/internal/safetext"
)

// session is one running search.
type session struct {
	log      *slog.Logger
	socks    []*ssdpSocket
	resend   []time.Duration
	maxResp  int
	start    time.Time
	sent     int // rounds sent so far
	answers  chan *Response
	done     chan struct{}
	wg       sync.WaitGroup
	seen     map[dedupeKey]struct{}
	dropLogs int
}

type dedupeKey struct{ location, st, usn string }

// run reads answers and resends requests until ctx ends, then releases
// everything.
func (sess *session) run(ctx context.Context, found func(Response)) {
	for _, sk := range sess.socks {
		sess.wg.Add(1)
		go sess.readLoop(sk)
	}
	defer sess.stop()

	var timer *time.Timer
	var tick <-chan time.Time
	arm := func() {
		if sess.sent >= len(sess.resend) {
			tick = nil
			return
		}
		d := time.Until(sess.start.Add(sess.resend[sess.sent]))
		if timer == nil {
			timer = time.NewTimer(d)
		} else {
			timer.Reset(d)
		}
		tick = timer.C
	}
	arm()
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
			if err := sess.sendRound(); err != nil {
				sess.log.Debug("ssdp: resend failed", "err", err)
			}
			arm()
		case r := <-sess.answers:
			// select picks at random among ready cases: check that the
			// context is still live, so no answer is reported after the
			// caller cancelled.
			if ctx.Err() == nil && sess.accept(r) {
				sess.log.Debug("ssdp: answer", "from", r.From, "st", safetext.Clean(r.ST, safetext.Short),
					"location", r.Location.Redacted(), "server", safetext.Clean(r.Server, safetext.Short),
					"after", time.Since(sess.start))
				found(*r)
			}
		}
	}
}

// accept de-duplicates an answer and applies the MaxResponses bound.
func (sess *session) accept(r *Response) bool {
	k := dedupeKey{r.Location.String(), r.ST, r.USN}
	if _, dup := sess.seen[k]; dup {
		return false
	}
	if len(sess.seen) >= sess.maxResp {
		if sess.dropLogs < 3 {
			sess.dropLogs++
			sess.log.Debug("ssdp: answer limit reached; dropping", "from", r.From, "limit", sess.maxResp)
		}
		return false
	}
	sess.seen[k] = struct{}{}
	return true
}

// sendRound sends every request once on every socket. It fails only if not
// a single datagram went out.
func (sess *session) sendRound() error {
	sess.sent++
	var ok int
	var errs []error
	for _, sk := range sess.socks {
		for _, d := range sk.sends {
			for _, msg := range d.msgs {
				if _, err := sk.conn.WriteToUDPAddrPort(msg, d.dst); err != nil {
					sess.log.Debug("ssdp: send failed", "socket", sk.name, "to", d.dst, "err", err)
					errs = append(errs, err)
					continue
				}
				sess.log.Debug("ssdp: search sent", "socket", sk.name, "to", d.dst,
					"st", searchTarget(msg), "round", sess.sent)
				ok++
			}
		}
	}
	if ok == 0 {
		return fmt.Errorf("%w: every send failed: %w", ErrNoSocket, errors.Join(errs...))
	}
	return nil
}

// searchTarget returns the ST header of a search we built (for logs).
func searchTarget(msg []byte) string {
	const key = "\r\nST: "
	i := bytes.Index(msg, []byte(key))
	if i < 0 {
		return ""
	}
	rest := msg[i+len(key):]
	if j := bytes.Index(rest, []byte("\r\n")); j >= 0 {
		rest = rest[:j]
	}
	return string(rest)
}

// readLoop reads datagrams from one socket and hands the valid answers to
// run. It ends when the socket is closed.
func (sess *session) readLoop(sk *ssdpSocket) {
	defer sess.wg.Done()
	buf := make([]byte, MaxDatagramSize+1)
	failures := 0
	for {
		n, from, err := sk.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Some systems report an earlier send's ICMP error on a
			// later read; tolerate a few, but never spin.
			if failures++; failures > 16 {
				sess.log.Debug("ssdp: giving up reading", "socket", sk.name, "err", err)
				return
			}
			continue
		}
		failures = 0
		if n > MaxDatagramSize {
			sess.log.Debug("ssdp: oversized datagram dropped", "from", from)
			continue
		}
		r, err := ParseResponse(buf[:n], from)
		if err != nil {
			sess.log.Debug("ssdp: bad datagram dropped", "from", from, "err", err)
			continue
		}
		select {
		case sess.answers <- r:
		case <-sess.done:
			return
		}
	}
}

// stop closes the sockets and waits for the readers.
func (sess *session) stop() {
	close(sess.done)
	sess.closeSockets()
	sess.wg.Wait()
}

func (sess *session) closeSockets() {
	for _, sk := range sess.socks {
		sk.conn.Close()
	}
}
