package discovery

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"
)

// Searcher sends SSDP M-SEARCH requests and reports the answers as they
// arrive. The zero value is valid but searches nothing: set Unicast, or
// Multicast, or both. A Searcher is not changed by Search and may be used by
// several searches at once.
type Searcher struct {
	// Targets are the ST values searched for, each in its own request.
	// nil means TargetIGD1 and TargetWANIPConn1 (devices implementing
	// version 2 answer these too). Values must be printable ASCII without
	// spaces.
	Targets []string

	// Unicast lists gateways to search directly (port 0 means 1900), from a
	// socket per address family. An IPv6 link-local address needs its zone.
	// Unicast requests carry "MX: 1": strict devices ignore a search
	// without MX, and some delay their answer by up to MX seconds.
	Unicast []netip.AddrPort

	// Multicast enables the search on the SSDP multicast group: IPv4 on
	// every interface in Interfaces, and IPv6 as well when IPv6 is set.
	// Off by default: searching the LAN is the caller's decision.
	Multicast bool
	// Interfaces to search on when Multicast is set. nil means every
	// interface that is up, running and multicast-capable and neither
	// loopback nor point-to-point (a VPN tunnel is no place to look for a
	// home router). Given interfaces are used as they are, loopback
	// included.
	Interfaces []net.Interface
	// IPv6 adds the IPv6 groups (FF02::C link-local and FF05::C
	// site-local) to the multicast search.
	IPv6 bool
	// MX is the MX value of multicast requests, in seconds: devices wait a
	// random time up to MX before answering. Default 2; clamped to 1..5.
	MX int
	// MulticastTTL is the IPv4 TTL and IPv6 hop limit of multicast
	// requests. Default 2, as UDA recommends.
	MulticastTTL int

	// Group is the IPv4 multicast destination; the zero value means
	// 239.255.255.250:1900. Tests point it at a group joined on lo, or at a
	// unicast loopback address.
	Group netip.AddrPort
	// Groups6 are the IPv6 multicast destinations; nil means [FF02::C]:1900
	// and [FF05::C]:1900.
	Groups6 []netip.AddrPort

	// Resend lists when each request is sent, as offsets from the start of
	// the search: UDP loses datagrams, so every request goes out more than
	// once (UDA 1.1 §1.3.2). nil means 0, 100 ms, 300 ms, 700 ms and 1.5 s;
	// at most 10 entries are used. After the last one the search only
	// listens, until the context ends.
	Resend []time.Duration

	// MaxResponses bounds how many distinct answers one search reports
	// (and remembers for de-duplication); default 64. Later distinct
	// answers are dropped, so a flood cannot grow memory.
	MaxResponses int

	// Logger receives debug records (sockets, sends, dropped datagrams);
	// nil is silent.
	Logger *slog.Logger
}

// Defaults of Searcher (unexported so that no caller can change them for
// everyone).
var (
	defaultGroup   = netip.MustParseAddrPort("239.255.255.250:1900")
	defaultGroups6 = []netip.AddrPort{
		netip.MustParseAddrPort("[ff02::c]:1900"),
		netip.MustParseAddrPort("[ff05::c]:1900"),
	}
	defaultResend = []time.Duration{0, 100 * time.Millisecond, 300 * time.Millisecond, 700 * time.Millisecond, 1500 * time.Millisecond}
)

const (
	defaultMX           = 2
	defaultTTL          = 2
	defaultMaxResponses = 64
	maxResend           = 10
)

// Search sends the requests and calls found for every distinct answer
// (distinct by LOCATION, ST and USN) as soon as it arrives. It returns nil
// when ctx ends, which is how a search normally finishes: there is no fixed
// listening window, so the caller stops as soon as it has what it needs.
//
// found is called from Search's goroutine, one call at a time, never after
// Search returned. When Search returns, every socket it opened is closed
// and every goroutine it started has ended.
//
// Search fails at once with ErrInvalidArgs when there is nothing to search
// or a target is invalid, with ErrNoSocket when no socket could be opened or
// no request could be sent, and with the context's error if it had already
// ended. A socket that fails on one interface
// is logged and skipped as long as another works.
func (s *Searcher) Search(ctx context.Context, found func(Response)) error {
	if found == nil {
		return fmt.Errorf("%w: nil callback", ErrInvalidArgs)
	}
	sess, err := s.start(ctx)
	if err != nil {
		return err
	}
	sess.run(ctx, found)
	return nil
}

// Responses is Search with a channel: it starts the search and returns a
// channel that carries each distinct answer as it arrives. The channel is
// closed after ctx ends and every socket is closed; the caller ends the
// search by ending ctx. Setup errors are returned at once, as by Search.
func (s *Searcher) Responses(ctx context.Context) (<-chan Response, error) {
	sess, err := s.start(ctx)
	if err != nil {
		return nil, err
	}
	ch := make(chan Response)
	go func() {
		defer close(ch)
		sess.run(ctx, func(r Response) {
			select {
			case ch <- r:
			case <-ctx.Done():
			}
		})
	}()
	return ch, nil
}

// start validates the configuration, opens the sockets and sends the first
// round of requests.
func (s *Searcher) start(ctx context.Context) (*session, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	targets := s.Targets
	if targets == nil {
		targets = defaultTargets
	}
	if len(targets) == 0 {
		return nil, fmt.Errorf("%w: no search targets", ErrInvalidArgs)
	}
	for _, t := range targets {
		if !validTarget(t) {
			return nil, fmt.Errorf("%w: search target %.64q", ErrInvalidArgs, t)
		}
	}
	if len(s.Unicast) == 0 && !s.Multicast {
		return nil, fmt.Errorf("%w: nothing to search (no unicast gateway, multicast off)", ErrInvalidArgs)
	}
	resend := s.Resend
	if resend == nil {
		resend = defaultResend
	}
	if len(resend) == 0 {
		resend = []time.Duration{0}
	}
	if len(resend) > maxResend {
		resend = resend[:maxResend]
	}
	sess := &session{
		log:     s.logger(),
		resend:  resend,
		maxResp: s.MaxResponses,
		answers: make(chan *Response),
		done:    make(chan struct{}),
		seen:    make(map[dedupeKey]struct{}),
	}
	if sess.maxResp <= 0 {
		sess.maxResp = defaultMaxResponses
	}
	socks, err := s.openSockets(targets, sess.log)
	if err != nil {
		return nil, err
	}
	sess.socks = socks
	sess.start = time.Now()
	if resend[0] <= 0 {
		if err := sess.sendRound(); err != nil {
			sess.closeSockets()
			return nil, err
		}
	}
	return sess, nil
}

func (s *Searcher) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.New(slog.DiscardHandler)
}
