package gatewaytest_test

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/upnpmap/upnpmap/gatewaytest"
)

// An IPv6 pinhole by hand: AddPinhole over the gateway's [::1] URL, for the
// host's address (Config.IPv6Host, which ::1 stands for), and what the
// gateway's firewall holds afterwards.
func Example_pinhole() {
	gw, err := gatewaytest.Start(gatewaytest.Config{IPv6: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer gw.Close()

	const svc = "urn:schemas-upnp-org:service:WANIPv6FirewallControl:1"
	body := `<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"` +
		` s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body>` +
		`<u:AddPinhole xmlns:u="` + svc + `"><RemoteHost></RemoteHost><RemotePort>0</RemotePort>` +
		`<InternalClient>2001:db8:77::20</InternalClient><InternalPort>8080</InternalPort>` +
		`<Protocol>6</Protocol><LeaseTime>3600</LeaseTime></u:AddPinhole></s:Body></s:Envelope>`
	req, _ := http.NewRequest(http.MethodPost, "http://"+gw.HTTPAddr6().String()+"/ctl/IP6FCtl", strings.NewReader(body))
	req.Header.Set("SOAPAction", `"`+svc+`#AddPinhole"`)
	req.Header.Set("Content-Type", `text/xml; charset="utf-8"`)
	resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	fmt.Println(resp.Status)
	for _, p := range gw.Pinholes() {
		fmt.Println(p.Method, p.UniqueID, p.Protocol, p.InternalClient, p.InternalPort, p.Lease)
	}
	// Output:
	// 200 OK
	// upnp 1 TCP 2001:db8:77::20 8080 1h0m0s
}
