package igd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/upnpmap/upnpmap/internal/errs"
)

// Defaults for the Client fields.
const (
	DefaultTimeout        = 5 * time.Second
	DefaultMaxBodySize    = 64 << 10
	DefaultMaxListEntries = 1000

	// noTimeoutCap bounds the private transport's dial and header waits when
	// Timeout is negative (the context alone bounds the call): 30 s is the
	// longest UDA 2.0 lets a device take to answer.
	noTimeoutCap = 30 * time.Second
	// maxHeaderBytes bounds the reply's header block; real routers send a
	// few hundred bytes.
	maxHeaderBytes = 16 << 10
)

// Client calls the actions of one WANIPConnection or WANPPPConnection
// service, or of one WANIPv6FirewallControl service (the pinhole actions,
// see AddPinhole). Set ControlURL and ServiceType (from the device
// description: the service's controlURL resolved against the description's
// URL, and its serviceType) and use it; the other fields have working
// defaults.
//
// A Client is safe for concurrent use and sends one request at a time: some
// routers answer concurrent SOAP requests wrongly (go-ethereum #21390,
// syncthing's FritzBox note), so calls wait for the previous one. Do not
// change the fields after the first call.
//
// Every request carries "Connection: close", and the private transport keeps
// no idle connections. Embedded servers (miniupnpd among them) close after
// each reply anyway; a pooled connection that the router dropped silently
// would make the next POST fail, and net/http does not retry a POST; calls
// are minutes apart (renewals), so the saved handshake is worth nothing. In
// exchange no socket or goroutine outlives a call, and a Client needs no
// Close.
type Client struct {
	// ControlURL is the service's control URL (http or https). Required.
	ControlURL *url.URL
	// ServiceType is the service's URN, e.g. ServiceWANIP2; it is sent as
	// the action's namespace and in SOAPAction. Required. Its trailing
	// version decides whether the IGD:2 actions are allowed.
	ServiceType string
	// Timeout bounds each call: waiting for an earlier call on this Client,
	// connecting, sending and reading the whole reply. Default 5 s; negative
	// means the context alone bounds it. The context's deadline applies too,
	// whichever comes first.
	Timeout time.Duration
	// MaxBodySize bounds the request and the reply bodies in bytes. A reply
	// over it fails with ErrResponseTooLarge. Default 64 KiB, which holds
	// about 200 GetListOfPortMappings entries.
	MaxBodySize int64
	// MaxListEntries bounds ListPortMappings. Default 1000.
	MaxListEntries int
	// HTTPClient sends the requests. nil means a private client made for
	// this Client: no proxy from the environment, no redirects, no
	// keep-alive, dial and response-header timeouts of Timeout. A caller's
	// client is used as given, except that redirects are never followed
	// (a 3xx is returned as a *ResponseError) and Connection: close is sent.
	HTTPClient *http.Client
	// LocalAddr, when valid, is the source address of the requests (the
	// private HTTP client binds its connections to it; a caller's
	// HTTPClient is used as given). WANIPv6FirewallControl gateways accept
	// a pinhole only from the address being opened (miniupnpd answers 606
	// otherwise), so set it to the host's stable global IPv6 address, not a
	// temporary or ULA one, which the kernel may otherwise pick. A
	// link-local address needs its zone. It must be of the control URL's
	// family (an IPv6 source cannot reach an IPv4 URL: ErrUnreachable). The
	// zero value lets the kernel choose.
	LocalAddr netip.Addr
	// Logger receives debug records: one when a request is sent (action,
	// URL, service type) and one when its reply is in or the call failed
	// (action, HTTP status, elapsed, error). nil = silent.
	Logger *slog.Logger

	once sync.Once
	hc   *http.Client
	sem  chan struct{} // holds a token while a call is in flight
}

func (c *Client) init() {
	c.sem = make(chan struct{}, 1)
	if c.HTTPClient == nil {
		c.hc = newHTTPClient(c.timeout(), c.LocalAddr)
		return
	}
	// A shallow copy, so the caller's client keeps its own redirect policy
	// while ours follows none (a redirect could point anywhere).
	hc := *c.HTTPClient
	hc.CheckRedirect = noRedirect
	c.hc = &hc
}

func (c *Client) timeout() time.Duration {
	switch {
	case c.Timeout == 0:
		return DefaultTimeout
	case c.Timeout < 0:
		return 0
	}
	return c.Timeout
}

func (c *Client) maxBody() int64 {
	if c.MaxBodySize <= 0 {
		return DefaultMaxBodySize
	}
	return c.MaxBodySize
}

func (c *Client) maxList() int {
	if c.MaxListEntries <= 0 {
		return DefaultMaxListEntries
	}
	return c.MaxListEntries
}

// newHTTPClient returns the private client: it owns its transport, so no
// state is shared with http.DefaultTransport or other Clients. Its
// connections leave from local when that is valid.
func newHTTPClient(timeout time.Duration, local netip.Addr) *http.Client {
	if timeout <= 0 {
		timeout = noTimeoutCap
	}
	dialer := &net.Dialer{Timeout: timeout, KeepAlive: -1}
	if local.IsValid() {
		dialer.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(local, 0))
	}
	tr := &http.Transport{
		Proxy:                  nil, // a LAN router is never reached through a proxy
		DialContext:            dialer.DialContext,
		DisableKeepAlives:      true,
		DisableCompression:     true, // send no Accept-Encoding; embedded servers choke on it
		ResponseHeaderTimeout:  timeout,
		TLSHandshakeTimeout:    timeout,
		MaxResponseHeaderBytes: maxHeaderBytes,
		MaxConnsPerHost:        1,
	}
	return &http.Client{Transport: tr, CheckRedirect: noRedirect}
}

func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// call sends action with args and returns the out-arguments of a successful
// reply. Errors: *UPnPError for a fault, *ResponseError for a reply that is
// neither, errors wrapping ErrTimeout, ErrUnreachable or the context's error,
// or ErrInvalidArgs for arguments that cannot be sent.
func (c *Client) call(ctx context.Context, action string, args []arg) (*reply, error) {
	c.once.Do(c.init)
	if err := c.check(); err != nil {
		return nil, fmt.Errorf("igd: %s: %w", action, err)
	}
	body, err := appendEnvelope(make([]byte, 0, 512), c.ServiceType, action, args)
	if err != nil {
		return nil, fmt.Errorf("igd: %s: %w", action, err)
	}
	if int64(len(body)) > c.maxBody() {
		return nil, fmt.Errorf("igd: %s: %w: request of %d bytes exceeds MaxBodySize", action, ErrInvalidArgs, len(body))
	}
	if t := c.timeout(); t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t)
		defer cancel()
	}

	// One request at a time per Client.
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctxError(ctx, action)
	}
	defer func() { <-c.sem }()

	start := time.Now()
	if c.Logger != nil {
		c.Logger.LogAttrs(ctx, slog.LevelDebug, "igd: soap request",
			slog.String("action", action), slog.String("url", c.ControlURL.Redacted()),
			slog.String("service", c.ServiceType), slog.Int("bytes", len(body)))
	}
	status, raw, err := c.roundTrip(ctx, action, body)
	if err == nil {
		var args outArgs
		args, err = c.interpret(action, status, raw)
		if err == nil {
			c.log(ctx, action, status, start, nil)
			return &reply{action: action, status: status, args: args}, nil
		}
	}
	c.log(ctx, action, status, start, err)
	return nil, err
}

func (c *Client) check() error {
	u := c.ControlURL
	switch {
	case u == nil:
		return errors.New("Client.ControlURL is not set")
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("control URL scheme %q is not http or https", u.Scheme)
	case u.Host == "":
		return errors.New("control URL has no host")
	case u.User != nil:
		return errors.New("control URL carries user information")
	}
	return checkServiceType(c.ServiceType)
}

// checkServiceType keeps the service type safe to write as an attribute and
// inside the quoted SOAPAction header.
func checkServiceType(st string) error {
	if st == "" {
		return errors.New("Client.ServiceType is not set")
	}
	for i := 0; i < len(st); i++ {
		if b := st[i]; b <= ' ' || b >= 0x7f || b == '"' || b == '#' || b == '<' || b == '>' || b == '&' {
			return fmt.Errorf("service type %q contains %q", st, b)
		}
	}
	return nil
}

// reply is a successful action response.
type reply struct {
	action string
	status int
	args   outArgs
}

func (r *reply) fields() *fieldSet { return argFields(r.args) }

// bad reports a successful reply whose out-arguments are unusable.
func (r *reply) bad(err error) error {
	return &ResponseError{Action: r.action, StatusCode: r.status, Reason: "bad out-arguments", Err: err}
}

// roundTrip posts body and returns the status and the bounded reply body.
func (c *Client) roundTrip(ctx context.Context, action string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.ControlURL.String(), bytes.NewReader(body))
	if err != nil {
		return 0, nil, fmt.Errorf("igd: %s: %w", action, err)
	}
	// Exact casing: http.Header.Set would canonicalise to "Soapaction",
	// which some routers do not recognise (syncthing #1696).
	req.Header["SOAPAction"] = []string{soapAction(c.ServiceType, action)}
	req.Header["Content-Type"] = []string{`text/xml; charset="utf-8"`}
	req.Header["User-Agent"] = []string{"Go UPnP/1.1 upnpmap/1"}
	req.ContentLength = int64(len(body)) // not chunked: routers want Content-Length
	req.Close = true

	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, transportError(ctx, action, err)
	}
	defer resp.Body.Close()
	max := c.maxBody()
	if resp.ContentLength > max {
		return resp.StatusCode, nil, &ResponseError{Action: action, StatusCode: resp.StatusCode,
			Reason: "Content-Length " + strconv.FormatInt(resp.ContentLength, 10) + " exceeds MaxBodySize", Err: ErrResponseTooLarge}
	}
	reply, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return resp.StatusCode, nil, transportError(ctx, action, err)
	}
	if int64(len(reply)) > max {
		return resp.StatusCode, nil, &ResponseError{Action: action, StatusCode: resp.StatusCode,
			Reason: "body exceeds MaxBodySize (" + strconv.FormatInt(max, 10) + " bytes)", Err: ErrResponseTooLarge}
	}
	return resp.StatusCode, reply, nil
}

// interpret turns a complete reply into out-arguments or a typed error. The
// body decides, not the status: a UPnP fault is honoured with any status
// (some routers send it with 200), and a well-formed response is accepted
// only with a 2xx status.
func (c *Client) interpret(action string, status int, body []byte) (outArgs, error) {
	args, f, perr := parseSOAP(body, action)
	switch {
	case perr != nil:
		reason := "reply is not a SOAP response"
		if status < 200 || status > 299 {
			reason = "HTTP status " + strconv.Itoa(status) + " without a SOAP fault"
		}
		return nil, &ResponseError{Action: action, StatusCode: status, Reason: reason, Err: perr}
	case f != nil:
		if !f.hasUPnP || !f.codeOK {
			reason := "SOAP fault without a UPnPError code"
			if f.faultString != "" {
				reason += " (faultstring " + strconv.Quote(truncate(f.faultString, 64)) + ")"
			}
			return nil, &ResponseError{Action: action, StatusCode: status, Reason: reason}
		}
		return nil, newUPnPError(action, f.code, f.description)
	case status < 200 || status > 299:
		return nil, &ResponseError{Action: action, StatusCode: status, Reason: "action response with HTTP status " + strconv.Itoa(status)}
	}
	return args, nil
}

// transportError classifies an error from sending or reading: the context
// ending (ours or the caller's), a network timeout, an endpoint that refuses
// connections.
func transportError(ctx context.Context, action string, err error) error {
	if ctx.Err() != nil {
		return ctxError(ctx, action)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("igd: %s: %w: %w", action, errs.Timeout, err)
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "dial" {
		return fmt.Errorf("igd: %s: %w: %w", action, ErrUnreachable, err)
	}
	return fmt.Errorf("igd: %s: %w", action, err)
}

// ctxError reports a call ended by its context. A deadline (Timeout or the
// caller's) wraps ErrTimeout and context.DeadlineExceeded; a cancellation
// wraps context.Canceled only, because the gateway did nothing wrong.
func ctxError(ctx context.Context, action string) error {
	err := ctx.Err()
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("igd: %s: %w: %w", action, errs.Timeout, err)
	}
	return fmt.Errorf("igd: %s: %w", action, err)
}

func (c *Client) log(ctx context.Context, action string, status int, start time.Time, err error) {
	if c.Logger == nil {
		return
	}
	attrs := []slog.Attr{
		slog.String("action", action),
		slog.String("url", c.ControlURL.Redacted()),
		slog.Int("status", status),
		slog.Duration("elapsed", time.Since(start)),
	}
	if err != nil {
		attrs = append(attrs, slog.String("err", err.Error()))
		var ue *UPnPError
		if errors.As(err, &ue) {
			attrs = append(attrs, slog.Int("upnp_code", ue.Code))
		}
	}
	c.Logger.LogAttrs(ctx, slog.LevelDebug, "igd: soap response", attrs...)
}

// requireV2 fails without sending when the service is older than IGD:2.
func (c *Client) requireV2(action string) error {
	if v := serviceVersion(c.ServiceType); v < 2 {
		return fmt.Errorf("igd: %s: %w: needs a version 2 service, have %q", action, ErrUnsupported, c.ServiceType)
	}
	return nil
}

// soapAction is the SOAPAction header value for action: the quoted
// "serviceType#action" (UDA 1.1 §3.2.1; strict servers reject it unquoted).
func soapAction(serviceType, action string) string {
	return `"` + serviceType + "#" + action + `"`
}
