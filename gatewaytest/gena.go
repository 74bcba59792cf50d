package gatewaytest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// GENA eventing (UPnP Device Architecture 2.0 §4) on the connection
// service's eventSubURL, turned on with SetEventing. Only ExternalIPAddress
// is evented: a subscriber gets it in the initial event (SEQ 0) and again on
// each SetExternalAddr.

const (
	// genaDefaultTimeout is the subscription duration granted when the
	// SUBSCRIBE asks for none or for "infinite".
	genaDefaultTimeout = 1800 * time.Second
	// genaMinTimeout is the shortest subscription granted, so tests can
	// exercise renewal without waiting half an hour.
	genaMinTimeout = 2 * time.Second
	// genaNotifyTimeout bounds one NOTIFY delivery.
	genaNotifyTimeout = 5 * time.Second
)

// genaState is the eventing part of the gateway; guarded by Gateway.mu.
type genaState struct {
	on   bool
	subs map[string]*subscription
	skip bool // SkipEventSeq: the next NOTIFY skips one SEQ value
	// grant caps the subscription duration granted (SetEventTimeout); 0:
	// no cap.
	grant time.Duration
	// ssdpTo is where SSDP NOTIFYs go (SetSSDPNotifyTo).
	ssdpTo []netip.AddrPort
	// configBumps counts ChangeConfig calls: CONFIGID.UPNP.ORG is 1 more.
	configBumps int
	// rebootKeepsPort: Reboot keeps the HTTP port (SetRebootKeepsPort).
	rebootKeepsPort bool
	// counts per GENA method: SUBSCRIBE (new), RENEW, UNSUBSCRIBE.
	counts map[string]int
}

// subscription is one GENA subscriber.
type subscription struct {
	sid      string
	callback *url.URL
	expires  time.Time
	seq      uint32 // the SEQ of the next NOTIFY
	// last is closed when the latest NOTIFY's delivery ends; each delivery
	// waits for the one before, so NOTIFYs arrive in SEQ order.
	last chan struct{}
}

// GENA request kinds counted by EventRequests.
const (
	GENASubscribe   = "SUBSCRIBE"   // a new subscription
	GENARenew       = "RENEW"       // a SUBSCRIBE with SID
	GENAUnsubscribe = "UNSUBSCRIBE" // an UNSUBSCRIBE
	GENANotify      = "NOTIFY"      // a NOTIFY the gateway sent
)

// Subscriber describes one active GENA subscription.
type Subscriber struct {
	SID      string
	Callback string
	Expires  time.Time
}

// SetEventing turns GENA eventing on the connection service's eventSubURL
// on or off. Off (the default) the URL answers 404, as from a router that
// does not event; turning it off also drops every subscription.
func (g *Gateway) SetEventing(on bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.gena.on = on
	if !on {
		g.gena.subs = nil
	}
}

// Subscribers lists the subscriptions that have not expired.
func (g *Gateway) Subscribers() []Subscriber {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.cfg.Now()
	var out []Subscriber
	for _, s := range g.gena.subs {
		if now.Before(s.expires) {
			out = append(out, Subscriber{SID: s.sid, Callback: s.callback.String(), Expires: s.expires})
		}
	}
	return out
}

// EventRequests counts GENA requests of a kind (GENASubscribe, GENARenew,
// GENAUnsubscribe) received, or NOTIFYs sent (GENANotify).
func (g *Gateway) EventRequests(kind string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.gena.counts[kind]
}

// SetEventTimeout caps the subscription duration the gateway grants (the
// TIMEOUT of its SUBSCRIBE answers), at least 2 s, so that tests see
// renewals soon; 0 removes the cap.
func (g *Gateway) SetEventTimeout(d time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.gena.grant = d
	if d > 0 {
		g.gena.grant = max(d, genaMinTimeout)
	}
}

// SkipEventSeq makes the next NOTIFY to each subscriber skip one SEQ value,
// as when an event was lost on the way: the subscriber sees a gap.
func (g *Gateway) SkipEventSeq() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.gena.skip = true
}

// serveGENA answers SUBSCRIBE and UNSUBSCRIBE on the connection service's
// eventSubURL when eventing is on. It reports whether it answered.
func (g *Gateway) serveGENA(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != "SUBSCRIBE" && r.Method != "UNSUBSCRIBE" {
		return false
	}
	conn, ok := g.model.conn()
	if !ok || r.URL.Path != conn.event {
		return false
	}
	g.mu.Lock()
	on := g.gena.on
	g.mu.Unlock()
	if !on {
		return false
	}
	if r.Method == "UNSUBSCRIBE" {
		g.unsubscribe(w, r)
		return true
	}
	g.subscribe(w, r)
	return true
}

// subscribe handles a new subscription or a renewal.
func (g *Gateway) subscribe(w http.ResponseWriter, r *http.Request) {
	sid, cb, nt := r.Header.Get("SID"), r.Header.Get("CALLBACK"), r.Header.Get("NT")
	timeout := genaTimeout(r.Header.Get("TIMEOUT"))
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.gena.counts == nil {
		g.gena.counts = map[string]int{}
	}
	if g.gena.grant > 0 {
		timeout = min(timeout, g.gena.grant)
	}
	now := g.cfg.Now()
	if sid != "" {
		g.gena.counts[GENARenew]++
		if cb != "" || nt != "" {
			http.Error(w, "SID with CALLBACK or NT", http.StatusBadRequest)
			return
		}
		s, ok := g.gena.subs[sid]
		if !ok || !now.Before(s.expires) {
			http.Error(w, "no such subscription", http.StatusPreconditionFailed)
			return
		}
		s.expires = now.Add(timeout)
		writeSubscribed(w, sid, timeout)
		return
	}
	g.gena.counts[GENASubscribe]++
	if strings.TrimSpace(nt) != "upnp:event" {
		http.Error(w, "NT must be upnp:event", http.StatusPreconditionFailed)
		return
	}
	u, err := parseCallback(cb)
	if err != nil {
		http.Error(w, err.Error(), http.StatusPreconditionFailed)
		return
	}
	if g.gena.subs == nil {
		g.gena.subs = map[string]*subscription{}
	}
	s := &subscription{sid: newUUID(), callback: u, expires: now.Add(timeout)}
	g.gena.subs[s.sid] = s
	writeSubscribed(w, s.sid, timeout)
	// The initial event follows the response (UDA 2.0 §4.3.2).
	g.notifyLocked(s)
}

// unsubscribe ends a subscription.
func (g *Gateway) unsubscribe(w http.ResponseWriter, r *http.Request) {
	sid := r.Header.Get("SID")
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.gena.counts == nil {
		g.gena.counts = map[string]int{}
	}
	g.gena.counts[GENAUnsubscribe]++
	if _, ok := g.gena.subs[sid]; !ok {
		http.Error(w, "no such subscription", http.StatusPreconditionFailed)
		return
	}
	delete(g.gena.subs, sid)
	w.WriteHeader(http.StatusOK)
}

// writeSubscribed writes the 200 answer to a SUBSCRIBE.
func writeSubscribed(w http.ResponseWriter, sid string, timeout time.Duration) {
	w.Header().Set("SID", sid)
	w.Header().Set("TIMEOUT", "Second-"+strconv.Itoa(int(timeout/time.Second)))
	w.WriteHeader(http.StatusOK)
}

// genaTimeout reads a TIMEOUT header ("Second-N" or "Second-infinite").
func genaTimeout(h string) time.Duration {
	n, err := strconv.Atoi(strings.TrimPrefix(strings.TrimSpace(h), "Second-"))
	if err != nil || n <= 0 {
		return genaDefaultTimeout
	}
	return max(time.Duration(n)*time.Second, genaMinTimeout)
}

// parseCallback takes the first URL of a CALLBACK header "<url><url>…"; only
// http URLs are accepted.
func parseCallback(h string) (*url.URL, error) {
	h = strings.TrimSpace(h)
	if !strings.HasPrefix(h, "<") {
		return nil, fmt.Errorf("CALLBACK %q is not <url>", h)
	}
	end := strings.IndexByte(h, '>')
	if end < 0 {
		return nil, fmt.Errorf("CALLBACK %q is not <url>", h)
	}
	u, err := url.Parse(h[1:end])
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Errorf("CALLBACK %q is not an http URL", h[1:end])
	}
	return u, nil
}

// notifyAllLocked sends the current ExternalIPAddress to every live
// subscriber. The caller holds g.mu.
func (g *Gateway) notifyAllLocked() {
	now := g.cfg.Now()
	for _, s := range g.gena.subs {
		if now.Before(s.expires) {
			g.notifyLocked(s)
		}
	}
	g.gena.skip = false
}

// notifyLocked sends one NOTIFY to s in the background. The caller holds
// g.mu and has checked that the gateway is not closed.
func (g *Gateway) notifyLocked(s *subscription) {
	if g.closed() {
		return
	}
	if g.gena.skip && s.seq > 0 {
		s.seq++
	}
	seq := s.seq
	s.seq++
	if s.seq == 0 { // after 4294967295 comes 1 (UDA 2.0 §4.3.2)
		s.seq = 1
	}
	ext := ""
	if g.st.ext.IsValid() && !g.st.ext.IsUnspecified() {
		ext = g.st.ext.String()
	}
	g.gena.counts[GENANotify]++
	prev, mine := s.last, make(chan struct{})
	s.last = mine
	g.wg.Add(1)
	go g.sendNotify(prev, mine, s.callback.String(), s.sid, seq, ext)
}

// sendNotify delivers one NOTIFY from the gateway's own address, so a
// subscriber can check where it came from, after the delivery before it
// (prev, nil for the first) has ended; it closes mine when done. Close
// cancels it.
func (g *Gateway) sendNotify(prev, mine chan struct{}, callback, sid string, seq uint32, ext string) {
	defer g.wg.Done()
	defer close(mine)
	if prev != nil {
		select {
		case <-prev:
		case <-g.done:
			return
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), genaNotifyTimeout)
	defer cancel()
	go g.cancelOnClose(ctx, cancel)
	body := fmt.Sprintf(`<?xml version="1.0"?>`+"\n"+
		`<e:propertyset xmlns:e="urn:schemas-upnp-org:event-1-0"><e:property><ExternalIPAddress>%s</ExternalIPAddress></e:property></e:propertyset>`, ext)
	req, err := http.NewRequestWithContext(ctx, "NOTIFY", callback, bytes.NewReader([]byte(body)))
	if err != nil {
		return
	}
	req.Header.Set("Content-Type", `text/xml; charset="utf-8"`)
	req.Header.Set("NT", "upnp:event")
	req.Header.Set("NTS", "upnp:propchange")
	req.Header.Set("SID", sid)
	req.Header.Set("SEQ", strconv.FormatUint(uint64(seq), 10))
	d := &net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(g.addr, 0))}
	tr := &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		g.log.Debug("gena: NOTIFY", "callback", callback, "err", err)
		return
	}
	resp.Body.Close()
}

// cancelOnClose cancels a delivery when the gateway closes; it returns when
// the delivery ends either way.
func (g *Gateway) cancelOnClose(ctx context.Context, cancel context.CancelFunc) {
	select {
	case <-g.done:
		cancel()
	case <-ctx.Done():
	}
}
