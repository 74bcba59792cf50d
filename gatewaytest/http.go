package gatewaytest

import (
	"io"
	"log"
	"net"
	"net/http"
	"net/netip"
	"time"
)

// maxSOAPBody bounds a control request's body; larger ones get 413.
const maxSOAPBody = 64 << 10

// newHTTP wraps a listener in a fresh server. The caller holds g.mu or is
// Start.
func (g *Gateway) newHTTP(ln net.Listener) *httpSrv {
	h := &httpSrv{ln: ln, port: ln.Addr().(*net.TCPAddr).AddrPort().Port()}
	h.srv = &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { g.serveHTTP(h, w, r) }),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		IdleTimeout:       30 * time.Second,
		MaxHeaderBytes:    8 << 10,
		ErrorLog:          log.New(io.Discard, "", 0),
		ConnState:         g.trackConn,
	}
	return h
}

// goHTTP starts serving h. The caller holds g.mu (or is Start) and has
// checked that the gateway is not closed.
func (g *Gateway) goHTTP(h *httpSrv) {
	g.wg.Add(1)
	go g.serveHTTPLoop(h)
}

// serveHTTPLoop runs one HTTP server incarnation until Close or Reboot
// closes it.
func (g *Gateway) serveHTTPLoop(h *httpSrv) {
	defer g.wg.Done()
	_ = h.srv.Serve(h.ln)
}

// trackConn counts connection goroutines in g.wg, so that Close waits for
// them too: http.Server.Close closes connections but does not wait for
// their goroutines. StateNew is reported by the Serve goroutine (itself
// counted), so the WaitGroup is never at zero when it grows here.
func (g *Gateway) trackConn(_ net.Conn, s http.ConnState) {
	switch s {
	case http.StateNew:
		g.wg.Add(1)
	case http.StateClosed, http.StateHijacked:
		g.wg.Done()
	}
}

// serveHTTP routes the description, the SCPDs and the control URLs, after
// the silence and delay knobs.
func (g *Gateway) serveHTTP(h *httpSrv, w http.ResponseWriter, r *http.Request) {
	if g.serveGENA(w, r) {
		return
	}
	g.mu.Lock()
	kind := SOAP
	if r.Method == http.MethodGet {
		kind = reqDescription
	}
	g.st.requests[kind]++
	silent, delay := g.st.silent[SOAP], g.st.delay[SOAP]
	g.mu.Unlock()

	if silent {
		// A hung router: hold the request until the client or Close ends it.
		select {
		case <-r.Context().Done():
		case <-g.done:
		}
		// Close the connection without an answer (net/http would otherwise
		// send an empty 200).
		panic(http.ErrAbortHandler)
	}
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		case <-g.done:
			t.Stop()
			panic(http.ErrAbortHandler)
		}
	}

	// Served whole before or after a restart, never across it; a request to
	// a replaced incarnation gets its connection closed.
	g.bootMu.RLock()
	defer g.bootMu.RUnlock()
	if h.retired.Load() {
		panic(http.ErrAbortHandler)
	}
	w.Header().Set("Server", ServerHeader)
	switch {
	case r.URL.Path == descPath:
		if g.replay != nil {
			g.serveXML(w, r, g.replay.description(g.HTTPAddr().String()))
			return
		}
		g.serveXML(w, r, g.model.description())
	default:
		if b, ok := g.replayedSCPD(r.URL.Path); ok {
			g.serveXML(w, r, b)
			return
		}
		if svc, ok := g.model.scpdAt(r.URL.Path); ok {
			g.serveXML(w, r, scpd(actionsFor(svc)))
			return
		}
		svc, ok := g.model.serviceAt(r.URL.Path, r.URL.RawQuery)
		if !ok && g.noFirewall(w, r) {
			return
		}
		if !ok {
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		g.serveSOAP(w, r, svc, g.behindNAT(remoteAddr(r)))
	}
}

// replayedSCPD is the captured SCPD served at path, if any.
func (g *Gateway) replayedSCPD(path string) ([]byte, bool) {
	if g.replay == nil {
		return nil, false
	}
	b, ok := g.replay.scpds[path]
	return b, ok
}

// serveXML answers a GET for a document.
func (g *Gateway) serveXML(w http.ResponseWriter, r *http.Request, body []byte) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", `text/xml; charset="utf-8"`)
	_, _ = w.Write(body)
}

// remoteAddr is the caller's IP address, the one secure mode compares the
// InternalClient with.
func remoteAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}
