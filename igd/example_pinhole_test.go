package igd_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/upnpmap/upnpmap/igd"
)

// examplePinholeRouter is a toy WANIPv6FirewallControl:1 endpoint: its
// firewall is on and allows pinholes, it gives every pinhole UniqueID 1, and
// like some gateways it refuses DeletePinhole (606) while accepting
// UpdatePinhole.
func examplePinholeRouter() *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 64<<10))
		action := r.Header.Get("SOAPAction")
		action = strings.Trim(action[strings.LastIndexByte(action, '#')+1:], `"`)
		var out string
		switch action {
		case "GetFirewallStatus":
			out = "<FirewallEnabled>1</FirewallEnabled><InboundPinholeAllowed>1</InboundPinholeAllowed>"
		case "AddPinhole":
			out = "<UniqueID>1</UniqueID>"
		case "UpdatePinhole":
		default:
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprint(w, `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault>`+
				`<faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail>`+
				`<UPnPError xmlns="urn:schemas-upnp-org:control-1-0"><errorCode>606</errorCode>`+
				`<errorDescription>Action not authorized</errorDescription></UPnPError></detail></s:Fault></s:Body></s:Envelope>`)
			return
		}
		fmt.Fprintf(w, `<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>`+
			`<u:%sResponse xmlns:u="%s">%s</u:%sResponse></s:Body></s:Envelope>`, action, igd.ServiceWANIPv6Firewall1, out, action)
	}))
}

// Open an IPv6 pinhole to this host's port 8080 for an hour, then close it.
func ExampleClient_AddPinhole() {
	router := examplePinholeRouter()
	defer router.Close()
	ctx := context.Background()

	// The control URL comes from the device description: the service whose
	// type is in igd.FirewallServiceTypes (root.Services, not Usable: a
	// gateway without it is still good for IPv4 mappings). Use the
	// gateway's IPv6 URL, and set LocalAddr to this host's stable global
	// address: the gateway accepts a pinhole only from the address it opens.
	controlURL, _ := url.Parse(router.URL + "/ctl/IP6FCtl")
	c := &igd.Client{ControlURL: controlURL, ServiceType: igd.ServiceWANIPv6Firewall1}

	st, err := c.GetFirewallStatus(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	if !st.CanOpenPinholes() {
		fmt.Println("no pinholes here:", st)
		return
	}
	id, err := c.AddPinhole(ctx, igd.Pinhole{
		InternalClient: netip.MustParseAddr("2001:db8:77::20"), // normally left zero: LocalAddr
		InternalPort:   8080,
		Protocol:       igd.TCP,
		LeaseTime:      time.Hour, // renew with AddPinhole or UpdatePinhole before it ends
	})
	switch {
	case errors.Is(err, igd.ErrFirewallDisabled):
		fmt.Println("the port is not filtered: nothing to open")
		return
	case err != nil:
		fmt.Println(err)
		return
	}
	fmt.Println("pinhole", id)

	// This router answers DeletePinhole with 606; RemovePinhole then lets
	// the pinhole expire in a second instead.
	fmt.Println("DeletePinhole:", c.DeletePinhole(ctx, id))
	fmt.Println("RemovePinhole:", c.RemovePinhole(ctx, id))
	// Output:
	// pinhole 1
	// DeletePinhole: igd: DeletePinhole: 606 Action not authorized
	// RemovePinhole: <nil>
}
