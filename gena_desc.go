package upnpmap

import (
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
)

// maxEventDescription bounds the description read to find an eventSubURL,
// as package discovery bounds its own read of it.
const maxEventDescription = 256 << 10

// eventURL reads the description at location and returns the eventSubURL
// of the service whose control URL path is controlPath. The URL must name
// the gateway's own address: a subscription goes nowhere else.
func eventURL(ctx context.Context, hc *http.Client, location, controlPath string, gwAddr netip.Addr) (*url.URL, error) {
	base, err := url.Parse(location)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, location, nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("description: HTTP %d", resp.StatusCode)
	}
	return findEventURL(io.LimitReader(resp.Body, maxEventDescription), base, controlPath, gwAddr)
}

// findEventURL reads a description and returns the eventSubURL of the
// service whose control URL path is controlPath, resolved against base; it
// must be an http URL on gwAddr.
func findEventURL(r io.Reader, base *url.URL, controlPath string, gwAddr netip.Addr) (*url.URL, error) {
	d := xml.NewDecoder(r)
	for {
		t, err := d.Token()
		if err != nil {
			if err == io.EOF {
				err = errNoEvents
			}
			return nil, fmt.Errorf("no eventSubURL for %s: %w", routerText(controlPath), err)
		}
		se, ok := t.(xml.StartElement)
		if !ok || se.Name.Local != "service" {
			continue
		}
		var s struct {
			Control string `xml:"controlURL"`
			Event   string `xml:"eventSubURL"`
		}
		if err := d.DecodeElement(&s, &se); err != nil {
			return nil, err
		}
		c, err := base.Parse(strings.TrimSpace(s.Control))
		if err != nil || c.Path != controlPath {
			continue
		}
		if strings.TrimSpace(s.Event) == "" {
			return nil, fmt.Errorf("the connection service has no eventSubURL: %w", errNoEvents)
		}
		u, err := base.Parse(strings.TrimSpace(s.Event))
		if err != nil {
			return nil, err
		}
		if h, err := netip.ParseAddr(u.Hostname()); u.Scheme != "http" || err != nil || h.Unmap() != gwAddr {
			return nil, fmt.Errorf("eventSubURL %s is not on the gateway", routerText(u.Redacted()))
		}
		return u, nil
	}
}
