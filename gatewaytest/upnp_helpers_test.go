package gatewaytest

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Raw SSDP and SOAP, written from UDA 2.0 and the WANIPConnection specs, so
// the tests do not share code with the server.

func msearch(st string) []byte {
	return []byte("M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: \"ssdp:discover\"\r\nMX: 1\r\nST: " + st + "\r\n\r\n")
}

// ssdpAnswers sends an M-SEARCH and collects the answers, as header maps
// (keys upper-cased): it waits up to wait for the first and then until
// 100 ms pass without another (the gateway answers at once).
func ssdpAnswers(t *testing.T, g *Gateway, req []byte, wait time.Duration) []map[string]string {
	t.Helper()
	c := dialFrom(t, netip.Addr{}, g.SSDPAddr())
	c.send(req)
	var out []map[string]string
	deadline := time.Now().Add(wait)
	for {
		r := c.recv(time.Until(deadline))
		if r == nil {
			return out
		}
		lines := strings.Split(string(r), "\r\n")
		if lines[0] != "HTTP/1.1 200 OK" {
			t.Fatalf("status line %q", lines[0])
		}
		h := map[string]string{}
		for _, l := range lines[1:] {
			if k, v, ok := strings.Cut(l, ":"); ok {
				h[strings.ToUpper(k)] = strings.TrimSpace(v)
			}
		}
		out = append(out, h)
		deadline = time.Now().Add(100 * time.Millisecond)
	}
}

// httpClient makes requests from a chosen loopback source address (zero =
// the kernel's choice), without keep-alives so no goroutine outlives a test.
func httpClient(t *testing.T, local netip.Addr, timeout time.Duration) *http.Client {
	t.Helper()
	d := &net.Dialer{Timeout: time.Second}
	if local.IsValid() {
		d.LocalAddr = &net.TCPAddr{IP: local.AsSlice()}
	}
	tr := &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: timeout}
}

// soapCall is one control request with a hand-written envelope.
type soapCall struct {
	svc     string // service type, e.g. urn:schemas-upnp-org:service:WANIPConnection:2
	action  string
	args    [][2]string
	header  *string // SOAPAction header override (nil = the correct quoted value)
	path    string  // control path override
	from    netip.Addr
	timeout time.Duration
	v6      bool // to HTTPAddr6 (from ::1) instead of HTTPAddr
}

type soapResult struct {
	status int
	out    map[string]string
	code   int // UPnP errorCode of a fault
	body   string
}

func (c soapCall) do(t *testing.T, g *Gateway) soapResult {
	t.Helper()
	var b strings.Builder
	b.WriteString(`<?xml version="1.0"?>` + "\n")
	b.WriteString(`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body>`)
	fmt.Fprintf(&b, `<u:%s xmlns:u="%s">`, c.action, c.svc)
	for _, a := range c.args {
		fmt.Fprintf(&b, "<%s>", a[0])
		_ = xml.EscapeText(&b, []byte(a[1]))
		fmt.Fprintf(&b, "</%s>", a[0])
	}
	fmt.Fprintf(&b, `</u:%s></s:Body></s:Envelope>`, c.action)
	return c.post(t, g, b.String())
}

func (c soapCall) post(t *testing.T, g *Gateway, body string) soapResult {
	t.Helper()
	path := c.path
	if path == "" {
		path = controlPath(c.svc)
	}
	ctx, cancel := context.WithTimeout(context.Background(), cmpDur(c.timeout, 5*time.Second))
	defer cancel()
	host := g.HTTPAddr()
	if c.v6 {
		host = g.HTTPAddr6()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+host.String()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", `text/xml; charset="utf-8"`)
	action := `"` + c.svc + "#" + c.action + `"`
	if c.header != nil {
		action = *c.header
	}
	req.Header.Set("SOAPAction", action)
	resp, err := httpClient(t, c.from, 0).Do(req)
	if err != nil {
		return soapResult{status: -1, body: err.Error()}
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return soapResult{status: resp.StatusCode, body: string(raw), out: soapValues(raw), code: faultCode(raw)}
}

func cmpDur(a, b time.Duration) time.Duration {
	if a != 0 {
		return a
	}
	return b
}

// controlPath finds the control URL of a service type in the description
// the test fetched; tests use the known paths of the model instead of
// re-deriving them, so check them once in TestDescription.
func controlPath(svc string) string {
	switch {
	case strings.Contains(svc, "WANIPConnection"):
		return "/ctl/IPConn"
	case strings.Contains(svc, "WANPPPConnection"):
		return "/ctl/PPPConn"
	case strings.Contains(svc, "WANIPv6FirewallControl"):
		return "/ctl/IP6FCtl"
	}
	return "/ctl/CmnIfCfg"
}

// soapValues returns the text of every leaf element, by local name.
func soapValues(raw []byte) map[string]string {
	out := map[string]string{}
	d := xml.NewDecoder(bytes.NewReader(raw))
	var name string
	for {
		tok, err := d.Token()
		if err != nil {
			return out
		}
		switch t := tok.(type) {
		case xml.StartElement:
			name = t.Name.Local
			out[name] = ""
		case xml.CharData:
			if name != "" {
				out[name] += string(t)
			}
		case xml.EndElement:
			name = ""
		}
	}
}

func faultCode(raw []byte) int {
	v := soapValues(raw)
	n, _ := strconv.Atoi(v["errorCode"])
	return n
}

const (
	wanip2 = "urn:schemas-upnp-org:service:WANIPConnection:2"
	wanip1 = "urn:schemas-upnp-org:service:WANIPConnection:1"
	wanppp = "urn:schemas-upnp-org:service:WANPPPConnection:1"
)

func addArgs(ext int, proto string, internal int, client, desc string, lease int) [][2]string {
	return [][2]string{
		{"NewRemoteHost", ""}, {"NewExternalPort", strconv.Itoa(ext)}, {"NewProtocol", proto},
		{"NewInternalPort", strconv.Itoa(internal)}, {"NewInternalClient", client}, {"NewEnabled", "1"},
		{"NewPortMappingDescription", desc}, {"NewLeaseDuration", strconv.Itoa(lease)},
	}
}

func keyArgs(ext int, proto string) [][2]string {
	return [][2]string{{"NewRemoteHost", ""}, {"NewExternalPort", strconv.Itoa(ext)}, {"NewProtocol", proto}}
}

// mustOK fails the test unless r is a 200 response.
func mustOK(t *testing.T, what string, r soapResult) map[string]string {
	t.Helper()
	if r.status != 200 {
		t.Fatalf("%s: status %d code %d: %s", what, r.status, r.code, r.body)
	}
	return r.out
}

// mustFault fails the test unless r is an HTTP 500 UPnPError with code.
func mustFault(t *testing.T, what string, r soapResult, code int) {
	t.Helper()
	if r.status != 500 || r.code != code {
		t.Fatalf("%s: status %d code %d, want 500 with UPnPError %d: %s", what, r.status, r.code, code, r.body)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
