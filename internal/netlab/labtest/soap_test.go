//go:build linux

package labtest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/upnpmap/upnpmap/internal/netlab"
)

// soapCall sends one SOAP action of WANIPConnection:2 to the lab router's
// control URL from node, written by hand so that a test can send what the
// library never would (a lower-case protocol), and returns the HTTP status
// and body. It is an independent client: it shares no code with igd.
func soapCall(ctx context.Context, lab *netlab.Lab, node netlab.Node, action string, args map[string]string) (int, string, error) {
	const service = "urn:schemas-upnp-org:service:WANIPConnection:2"
	u, err := url.Parse(lab.DescURL())
	if err != nil {
		return 0, "", err
	}
	keys := make([]string, 0, len(args))
	for k := range args {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	fmt.Fprintf(&b, `<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body><u:%s xmlns:u="%s">`, action, service)
	for _, k := range keys {
		fmt.Fprintf(&b, "<%s>%s</%s>", k, args[k], k)
	}
	fmt.Fprintf(&b, "</u:%s></s:Body></s:Envelope>", action)
	body := b.String()

	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := lab.Dial(ctx, node, "tcp4", u.Host)
	if err != nil {
		return 0, "", err
	}
	defer c.Close()
	deadline, _ := ctx.Deadline()
	c.SetDeadline(deadline)
	fmt.Fprintf(c, "POST /ctl/IPConn HTTP/1.1\r\nHost: %s\r\nContent-Type: text/xml; charset=\"utf-8\"\r\nSOAPAction: \"%s#%s\"\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		u.Host, service, action, len(body), body)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, string(rb), err
}
