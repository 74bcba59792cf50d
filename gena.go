package upnpmap

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/upnpmap/upnpmap/internal/gena"
)

// GENA eventing: while a UPnP mapping lives, the gateway's subscriber asks
// the connection service to push ExternalIPAddress changes (UDA 2.0 §4), so
// a new address is reported without waiting for the poll. Polling stays: a
// router that does not event, or whose NOTIFYs get lost, is still checked.

const (
	// genaTimeout is the subscription duration asked for; routers grant what
	// they like (miniupnpd: what is asked, capped).
	genaTimeout = 1800 * time.Second
	// genaMinRenew is the shortest wait before a renewal, so a router that
	// grants tiny durations is not hammered.
	genaMinRenew = time.Second
	// genaRetry is the wait after a failed SUBSCRIBE before the next one.
	genaRetry = time.Minute
)

// subscriber is a gateway's GENA subscription and callback listener.
type subscriber struct {
	gw     *gateway
	cancel context.CancelFunc
	done   chan struct{} // closed when the goroutine (and its server) ended
	// again asks for a SUBSCRIBE now, with the event URL resolved anew:
	// an SSDP NOTIFY said the router restarted or changed its description
	// (see resubscribe).
	again chan struct{}

	mu  sync.Mutex
	sid string       // "" before the SUBSCRIBE answer
	seq gena.Tracker // SEQ of the NOTIFYs of sid
	ext netip.Addr   // the last evented ExternalIPAddress
}

// startSubscriber starts the subscription goroutine. The caller holds gw.mu.
func (gw *gateway) startSubscriber() *subscriber {
	ctx, cancel := context.WithCancel(context.Background())
	s := &subscriber{gw: gw, cancel: cancel, done: make(chan struct{}), again: make(chan struct{}, 1)}
	go s.run(ctx)
	return s
}

// stop ends the subscription (UNSUBSCRIBE, bounded by RequestTimeout),
// closes the callback listener and waits for the goroutine.
func (s *subscriber) stop() {
	s.cancel()
	<-s.done
}

// evented is the last ExternalIPAddress a NOTIFY carried.
func (s *subscriber) evented() netip.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ext
}

// run is the subscriber's goroutine: listen on the LAN address facing the
// gateway, subscribe, renew before the subscription ends, and unsubscribe
// when ctx ends. Any failure leaves the polling to do the work.
func (s *subscriber) run(ctx context.Context) {
	defer close(s.done)
	gw := s.gw
	if gw.mapper(UPnP) == nil || !gw.local.IsValid() || gw.local.IsUnspecified() {
		return
	}
	hc := &http.Client{
		Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil},
		// A redirect could lead the subscription off the gateway.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	defer hc.CloseIdleConnections()
	// Only the LAN address facing the gateway, never every interface.
	ln, err := net.Listen("tcp", netip.AddrPortFrom(gw.local, 0).String())
	if err != nil {
		gw.log.Debug("gena: callback listener", "err", errText(err))
		return
	}
	srv := &http.Server{
		Handler:           http.HandlerFunc(s.serveNotify),
		ReadHeaderTimeout: gw.c.requestTimeout(),
		ReadTimeout:       gw.c.requestTimeout(),
		MaxHeaderBytes:    8 << 10,
	}
	srvDone := make(chan struct{})
	go s.serve(srv, ln, srvDone)
	defer s.shutdown(srv, srvDone)
	callback := "<http://" + ln.Addr().String() + "/>"

	evURL := "" // resolved again after a failure: a restarted router moves its port
	wait := time.Duration(0)
	for {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			s.unsubscribe(hc, evURL)
			return
		case <-t.C:
		case <-s.again:
			// A renewal first (the SID may live on, after a change of
			// description); a router that restarted refuses it, and a
			// new subscription follows (see subscribe).
			t.Stop()
			evURL = ""
		}
		wait = genaRetry
		if evURL == "" {
			u, err := s.resolve()
			switch {
			case errors.Is(err, errNoEvents):
				gw.log.Debug("gena: the router does not event; polling only", "err", errText(err))
				return
			case err != nil:
				gw.log.Debug("gena: event URL; polling only until the retry", "err", errText(err))
				continue
			}
			evURL = u
		}
		granted, err := s.subscribe(ctx, hc, evURL, callback)
		switch {
		case ctx.Err() != nil:
			s.unsubscribe(hc, evURL)
			return
		case errors.Is(err, errNoEvents):
			gw.log.Debug("gena: SUBSCRIBE refused; polling only", "err", errText(err))
			return
		case err != nil:
			gw.log.Debug("gena: SUBSCRIBE failed; polling only until the retry", "err", errText(err))
			s.mu.Lock()
			s.sid, s.seq = "", gena.Tracker{}
			s.mu.Unlock()
			evURL = ""
		default:
			gw.log.Debug("gena: subscribed", "granted", granted)
			wait = max(granted/2, genaMinRenew)
		}
	}
}

// errNoEvents: the router does not offer eventing on the connection
// service (no eventSubURL, or SUBSCRIBE answered 404/405/501); trying again
// would not change that.
var errNoEvents = errors.New("no eventing on the connection service")

// resolve returns the connection service's eventSubURL, as the located
// description gave it (package discovery resolved it and pinned it to the
// gateway). A router restarted on another port is located again by the
// mappings' own exchanges, or at once by its SSDP NOTIFY (see ssdpWatcher).
func (s *subscriber) resolve() (string, error) {
	u, _ := s.gw.mapper(UPnP).(*upnpMapper)
	if u == nil {
		return "", errNoEvents
	}
	u.mu.Lock()
	located, ev := u.cl != nil, u.eventURL
	u.mu.Unlock()
	if !located {
		return "", errors.New("the UPnP device is not located")
	}
	if ev == nil {
		return "", fmt.Errorf("the connection service has no eventSubURL: %w", errNoEvents)
	}
	// A subscription goes to the gateway and nowhere else.
	if h, err := netip.ParseAddr(ev.Hostname()); ev.Scheme != "http" || err != nil || h.Unmap() != s.gw.addr.Unmap() {
		return "", fmt.Errorf("eventSubURL %s is not on the gateway: %w", routerText(ev.Redacted()), errNoEvents)
	}
	return ev.String(), nil
}

// shutdown stops the callback server and waits for its handlers (each
// bounded by ReadTimeout), so that none outlives the subscriber.
func (s *subscriber) shutdown(srv *http.Server, srvDone chan struct{}) {
	ctx, cancel := context.WithTimeout(context.Background(), s.gw.c.requestTimeout())
	defer cancel()
	_ = srv.Shutdown(ctx)
	_ = srv.Close()
	<-srvDone
}

// serve runs the callback server until it is closed.
func (s *subscriber) serve(srv *http.Server, ln net.Listener, done chan struct{}) {
	defer close(done)
	_ = srv.Serve(ln)
}

// subscribe sends a new SUBSCRIBE, or renews the current subscription
// (falling back to a new one when the router forgot it), and returns the
// duration granted.
func (s *subscriber) subscribe(ctx context.Context, hc *http.Client, evURL, callback string) (time.Duration, error) {
	s.mu.Lock()
	sid := s.sid
	s.mu.Unlock()
	h := http.Header{"TIMEOUT": {"Second-" + strconv.Itoa(int(genaTimeout/time.Second))}}
	if sid != "" {
		h.Set("SID", sid)
	} else {
		h.Set("CALLBACK", callback)
		h.Set("NT", "upnp:event")
	}
	// A SUBSCRIBE (or its renewal) is an exchange with the router like any
	// other: it passes the gateway's governor, so that nothing a LAN host
	// says (SSDP NOTIFYs asking for a re-subscription) can make it a storm.
	if err := s.gw.gov.wait(ctx); err != nil {
		return 0, err
	}
	resp, err := s.genaRequest(ctx, hc, "SUBSCRIBE", evURL, h)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		if sid != "" { // the router lost the subscription (a restart): a new one
			s.mu.Lock()
			s.sid, s.seq = "", gena.Tracker{}
			s.mu.Unlock()
			return s.subscribe(ctx, hc, evURL, callback)
		}
		switch resp.StatusCode {
		case http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusNotImplemented:
			return 0, fmt.Errorf("SUBSCRIBE: HTTP %d: %w", resp.StatusCode, errNoEvents)
		}
		return 0, fmt.Errorf("SUBSCRIBE: HTTP %d", resp.StatusCode)
	}
	got := strings.TrimSpace(resp.Header.Get("SID"))
	if got == "" || len(got) > 256 {
		return 0, errors.New("SUBSCRIBE: answer without a usable SID")
	}
	s.mu.Lock()
	if s.sid != got {
		s.sid, s.seq = got, gena.Tracker{}
	}
	s.mu.Unlock()
	granted := genaTimeout
	if n, err := strconv.Atoi(strings.TrimPrefix(strings.TrimSpace(resp.Header.Get("TIMEOUT")), "Second-")); err == nil && n > 0 {
		granted = time.Duration(n) * time.Second
	}
	return granted, nil
}

// unsubscribe ends the subscription on the router, bounded by
// RequestTimeout; a failure only leaves it to expire there.
func (s *subscriber) unsubscribe(hc *http.Client, evURL string) {
	s.mu.Lock()
	sid := s.sid
	s.sid = ""
	s.mu.Unlock()
	if sid == "" || evURL == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.gw.c.requestTimeout())
	defer cancel()
	if _, err := s.genaRequest(ctx, hc, "UNSUBSCRIBE", evURL, http.Header{"SID": {sid}}); err != nil {
		s.gw.log.Debug("gena: UNSUBSCRIBE", "err", errText(err))
	}
}

// genaRequest sends one bodiless GENA request, bounded by RequestTimeout.
func (s *subscriber) genaRequest(ctx context.Context, hc *http.Client, method, evURL string, h http.Header) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(ctx, s.gw.c.requestTimeout())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, evURL, nil)
	if err != nil {
		return nil, err
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	return resp, nil
}

// serveNotify accepts a NOTIFY from the gateway's address only, with a
// body bounded by package gena. An ExternalIPAddress is handed to the UPnP
// mappings as a polled change would be; a SEQ gap (a lost event) makes
// them check the router now.
func (s *subscriber) serveNotify(w http.ResponseWriter, r *http.Request) {
	from, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil || from.Addr().Unmap() != s.gw.addr {
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	s.mu.Lock()
	sid := s.sid
	s.mu.Unlock()
	// Before the SUBSCRIBE answer is read, the initial event can be here
	// already: its SID is then taken on trust (it came from the gateway).
	n, err := gena.ReadNotify(r, sid)
	if err != nil {
		status := http.StatusBadRequest
		var ge *gena.Error
		if errors.As(err, &ge) {
			status = ge.Status
		}
		s.gw.log.Debug("gena: NOTIFY refused", "err", errText(err))
		http.Error(w, "bad NOTIFY", status)
		return
	}
	w.WriteHeader(http.StatusOK)
	s.mu.Lock()
	if s.sid == "" {
		s.sid = n.SID
	}
	gap := s.seq.Note(n.Seq)
	var ext netip.Addr
	if v, ok := n.Get("ExternalIPAddress"); ok {
		if a, err := netip.ParseAddr(strings.TrimSpace(v)); err == nil && !a.IsUnspecified() {
			ext = a.Unmap()
			s.ext = ext
		}
	}
	s.mu.Unlock()
	upnp := func(m Method) bool { return m == UPnP }
	switch {
	case gap:
		s.gw.log.Debug("gena: SEQ gap; checking the mappings", "seq", n.Seq)
		s.gw.broadcast(nil, sigRenew, upnp)
	case ext.IsValid():
		s.gw.broadcast(nil, sigExternal, upnp)
	}
}

// pushed applies an evented external address to a UPnP mapping, as poll
// applies a polled one.
func (r *renewer) pushed() {
	m := r.m
	sub := m.gw.subscription()
	if sub == nil {
		return
	}
	ext := sub.evented()
	prev := m.grant()
	if !ext.IsValid() || r.lost || ext == prev.external.Addr() {
		return
	}
	g := *prev
	g.external = netip.AddrPortFrom(ext, prev.external.Port())
	g.reset = false
	m.setGrant(&g)
	m.log.Info("external address changed (evented)", "old", prev.external, "new", g.external)
	m.emit(Event{Kind: ExternalAddressChanged, External: g.external, Expires: g.expires(), Time: r.now()})
}

// resubscribe makes the subscriber subscribe again now, at the event URL
// of the description as read again; it never blocks.
func (s *subscriber) resubscribe() {
	select {
	case s.again <- struct{}{}:
	default:
	}
}

// subscription is the gateway's GENA subscriber, or nil.
func (gw *gateway) subscription() *subscriber {
	gw.mu.Lock()
	defer gw.mu.Unlock()
	return gw.sub
}
