package discovery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"time"
)

// FetchOptions bounds a description fetch. The zero value (or nil) uses the
// defaults.
type FetchOptions struct {
	// Timeout bounds the whole request, connection to last byte; default
	// 3 s. The context bounds it too.
	Timeout time.Duration
	// MaxSize is the largest description accepted, in bytes; default
	// 256 KiB. A larger one fails with ErrTooLarge.
	MaxSize int64
	// Logger receives debug records of the fetch; nil is silent.
	Logger *slog.Logger
}

// Defaults of FetchOptions.
const (
	DefaultFetchTimeout = 3 * time.Second
	DefaultMaxDescSize  = 256 << 10
)

// userAgent is sent with the description request; UDA asks for an OS/product
// token and a few devices log or check it.
const userAgent = "Go UPnP/1.1 upnpmap/1"

// Fetch downloads and parses the device description at location, served by
// responder.
//
// The request goes to responder, never elsewhere: location's host is
// replaced by responder's address (keeping the port and path), the dialer
// refuses any other address, redirects are not followed (ErrRedirect), no
// proxy from the environment is used, and the body is limited to MaxSize
// bytes (ErrTooLarge). Every call uses its own http.Client, closed before
// Fetch returns; nothing global is read or changed.
//
// If responder is the zero Addr, location's host must be an IP address and
// is taken as the responder (for a LOCATION the caller stored earlier); host
// names are refused because resolving them would let DNS choose the host.
//
// A timeout (Timeout or the context's deadline) gives an error wrapping
// ErrTimeout and the context error. A description that is too big or
// unusable (see ParseDescription) gives an error wrapping ErrUnusableDevice.
func Fetch(ctx context.Context, location *url.URL, responder netip.Addr, opt *FetchOptions) (*Root, error) {
	if opt == nil {
		opt = &FetchOptions{}
	}
	timeout, maxSize := opt.Timeout, opt.MaxSize
	if timeout <= 0 {
		timeout = DefaultFetchTimeout
	}
	if maxSize <= 0 {
		maxSize = DefaultMaxDescSize
	}
	if location == nil {
		return nil, fmt.Errorf("%w: nil location", ErrInvalidArgs)
	}
	loc, err := parseLocation(location.String())
	if err != nil {
		return nil, err
	}
	if !responder.IsValid() {
		a, err := netip.ParseAddr(loc.Hostname())
		if err != nil {
			return nil, fmt.Errorf("%w: no responder given and the location's host %.64q is not an IP address", ErrInvalidArgs, loc.Hostname())
		}
		responder = a
	}
	responder = responder.Unmap()
	if !responderOK(responder) {
		return nil, fmt.Errorf("%w: responder address %v", ErrInvalidArgs, responder)
	}
	loc = pinHost(loc, responder)

	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	body, err := get(ctx, loc, responder, maxSize, opt.Logger)
	if err != nil {
		return nil, err
	}
	return ParseDescription(body, loc, responder)
}

// get performs one bounded GET of u, which must already be pinned to
// responder, and returns the body.
func get(ctx context.Context, u *url.URL, responder netip.Addr, maxSize int64, log *slog.Logger) ([]byte, error) {
	tr := newTransport(responder, u.Port())
	defer tr.CloseIdleConnections()
	client := &http.Client{
		Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return ErrRedirect
		},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidArgs, err)
	}
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("Accept", "text/xml, application/xml;q=0.9, */*;q=0.1")
	if log != nil {
		log.Debug("fetching device description", "url", u.String())
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return nil, fetchErr(ctx, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		// Reached when the redirect has no Location; with one,
		// CheckRedirect already refused it.
		return nil, fmt.Errorf("%w (status %d)", ErrRedirect, resp.StatusCode)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: description request: HTTP status %d", ErrUnsupported, resp.StatusCode)
	}
	if resp.ContentLength > maxSize {
		return nil, unusable(fmt.Errorf("%w: description of %d bytes (limit %d)", ErrTooLarge, resp.ContentLength, maxSize))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxSize+1))
	if err != nil {
		return nil, fetchErr(ctx, err)
	}
	if int64(len(body)) > maxSize {
		return nil, unusable(fmt.Errorf("%w: description larger than %d bytes", ErrTooLarge, maxSize))
	}
	if log != nil {
		log.Debug("device description fetched", "url", u.String(), "status", resp.StatusCode,
			"bytes", len(body), "elapsed", time.Since(start))
	}
	return body, nil
}

// fetchErr classifies an HTTP error: the context's end becomes ErrTimeout
// (wrapping the context error), a refused redirect stays ErrRedirect.
func fetchErr(ctx context.Context, err error) error {
	if errors.Is(err, ErrRedirect) {
		return ErrRedirect
	}
	if ctx.Err() != nil {
		return fmt.Errorf("fetching device description: %w", timeoutErr(ctx.Err()))
	}
	return fmt.Errorf("fetching device description: %w", err)
}

// newTransport returns a transport for one request to responder: no proxy,
// no keep-alive, no HTTP/2, bounded headers, and a dialer that connects only
// to responder on port (the URL's port, "" meaning 80). It is the last line
// of the host policy: even a URL that escaped pinning could not reach
// another host.
func newTransport(responder netip.Addr, port string) *http.Transport {
	if port == "" {
		port = "80"
	}
	want := net.JoinHostPort(responder.String(), port)
	d := &net.Dialer{} // the request's context bounds the dial
	return &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if addr != want {
				return nil, fmt.Errorf("discovery: refusing to dial %s (only %s)", addr, want)
			}
			return d.DialContext(ctx, network, addr)
		},
		DisableKeepAlives:      true,
		DisableCompression:     true,
		MaxResponseHeaderBytes: 16 << 10,
		ForceAttemptHTTP2:      false,
		MaxConnsPerHost:        1,
	}
}
