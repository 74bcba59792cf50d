package igd_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"time"

	"github.com/upnpmap/upnpmap/igd"
)

// exampleRouter is a toy WANIPConnection:2 control endpoint for the examples:
// it holds external port 80 for another host, accepts only permanent leases
// when permanentOnly is set, and otherwise says yes.
func exampleRouter(permanentOnly bool) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		arg := func(name string) string {
			_, rest, _ := strings.Cut(string(body), "<"+name+">")
			v, _, _ := strings.Cut(rest, "</"+name+">")
			return v
		}
		action := r.Header.Get("SOAPAction")
		action = strings.Trim(action[strings.LastIndexByte(action, '#')+1:], `"`)
		fault := func(code int, desc string) {
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprintf(w, `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault>`+
				`<faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail>`+
				`<UPnPError xmlns="urn:schemas-upnp-org:control-1-0"><errorCode>%d</errorCode>`+
				`<errorDescription>%s</errorDescription></UPnPError></detail></s:Fault></s:Body></s:Envelope>`, code, desc)
		}
		var out string
		switch action {
		case "GetExternalIPAddress":
			out = "<NewExternalIPAddress>203.0.113.7</NewExternalIPAddress>"
		case "AddPortMapping", "AddAnyPortMapping":
			if permanentOnly && arg("NewLeaseDuration") != "0" {
				fault(725, "OnlyPermanentLeasesSupported")
				return
			}
			if arg("NewExternalPort") == "80" {
				if action == "AddPortMapping" {
					fault(718, "ConflictInMappingEntry")
					return
				}
				out = "<NewReservedPort>81</NewReservedPort>"
			}
		case "DeletePortMapping":
		default:
			fault(401, "Invalid Action")
			return
		}
		fmt.Fprintf(w, `<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>`+
			`<u:%sResponse xmlns:u="%s">%s</u:%sResponse></s:Body></s:Envelope>`, action, igd.ServiceWANIP2, out, action)
	}))
}

// Typical use: read the external address, open a port, delete it again.
func Example() {
	router := exampleRouter(false)
	defer router.Close()
	ctx := context.Background()

	// The control URL and service type come from the device description
	// (package discovery).
	controlURL, _ := url.Parse(router.URL + "/ctl/IPConn")
	c := &igd.Client{ControlURL: controlURL, ServiceType: igd.ServiceWANIP2}

	ext, err := c.GetExternalIPAddress(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	m := igd.PortMapping{
		ExternalPort:   8080,
		Protocol:       igd.TCP,
		InternalPort:   8080,
		InternalClient: "192.168.1.20",
		Enabled:        true,
		Description:    "my app",
		LeaseDuration:  time.Hour,
	}
	if err := c.AddPortMapping(ctx, m); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("reachable at %s:%d\n", ext, m.ExternalPort)
	if err := c.DeletePortMapping(ctx, "", m.ExternalPort, igd.TCP); err != nil {
		fmt.Println(err)
	}
	// Output: reachable at 203.0.113.7:8080
}

// A gateway that only accepts permanent leases answers 725; retry once with
// lease 0 and remember to delete the mapping explicitly.
func ExampleIsRetryWithPermanentLease() {
	router := exampleRouter(true)
	defer router.Close()
	ctx := context.Background()
	controlURL, _ := url.Parse(router.URL + "/ctl")
	c := &igd.Client{ControlURL: controlURL, ServiceType: igd.ServiceWANIP2}

	m := igd.PortMapping{ExternalPort: 5000, Protocol: igd.UDP, InternalPort: 5000,
		InternalClient: "192.168.1.20", Enabled: true, LeaseDuration: 2 * time.Hour}
	err := c.AddPortMapping(ctx, m)
	fmt.Println("first try:", err)
	if igd.IsRetryWithPermanentLease(err) {
		m.LeaseDuration = 0
		err = c.AddPortMapping(ctx, m)
	}
	fmt.Println("with lease 0:", err)
	// Output:
	// first try: igd: AddPortMapping: 725 OnlyPermanentLeasesSupported
	// with lease 0: <nil>
}

// Port 80 belongs to another host (718). On an IGD:2 gateway,
// AddAnyPortMapping lets the router choose a free port instead; on IGD:1,
// try the next port yourself.
func ExampleClient_AddAnyPortMapping() {
	router := exampleRouter(false)
	defer router.Close()
	ctx := context.Background()
	controlURL, _ := url.Parse(router.URL + "/ctl")
	c := &igd.Client{ControlURL: controlURL, ServiceType: igd.ServiceWANIP2}

	m := igd.PortMapping{ExternalPort: 80, Protocol: igd.TCP, InternalPort: 8080,
		InternalClient: "192.168.1.20", Enabled: true, LeaseDuration: time.Hour}
	err := c.AddPortMapping(ctx, m)
	if errors.Is(err, igd.ErrConflict) {
		fmt.Println("port 80 is taken:", err)
		port, err := c.AddAnyPortMapping(ctx, m)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println("the router reserved port", port)
	}
	// Output:
	// port 80 is taken: igd: AddPortMapping: 718 ConflictInMappingEntry
	// the router reserved port 81
}

// statusRouter is a toy connection service that answers GetStatusInfo with
// status.
func statusRouter(status string) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, io.LimitReader(r.Body, 64<<10))
		fmt.Fprintf(w, `<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>`+
			`<u:GetStatusInfoResponse xmlns:u="%s"><NewConnectionStatus>%s</NewConnectionStatus>`+
			`<NewLastConnectionError>ERROR_NONE</NewLastConnectionError><NewUptime>42</NewUptime>`+
			`</u:GetStatusInfoResponse></s:Body></s:Envelope>`, igd.ServiceWANIP1, status)
	}))
}

// A router with two WAN connections (MikroTik multi-WAN): the first is down,
// so Choose takes the second.
func ExampleChoose() {
	wan1, wan2 := statusRouter("Disconnected"), statusRouter("Connected")
	defer wan1.Close()
	defer wan2.Close()
	var cands []*igd.Client
	for _, srv := range []*httptest.Server{wan1, wan2} {
		u, _ := url.Parse(srv.URL + "/upnp/control/wanipconn")
		cands = append(cands, &igd.Client{ControlURL: u, ServiceType: igd.ServiceWANIP1})
	}
	c, status, err := igd.Choose(context.Background(), cands)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("second WAN chosen:", c == cands[1], status.ConnectionStatus)
	// Output: second WAN chosen: true Connected
}
