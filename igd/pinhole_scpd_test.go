package igd

import (
	"context"
	"encoding/xml"
	"os"
	"reflect"
	"strings"
	"testing"
)

// scpd is the part of a service description this test reads.
type scpd struct {
	Actions []struct {
		Name string `xml:"name"`
		Args []struct {
			Name      string `xml:"name"`
			Direction string `xml:"direction"`
		} `xml:"argumentList>argument"`
	} `xml:"actionList>action"`
}

// The requests carry exactly the in-arguments, in order, of the
// WANIPv6FirewallControl:1 SCPD that miniupnpd 2.3.1 serves (captured in
// the netns lab), and the replies are read by its out-argument names.
func TestPinholeArgsMatchSCPD(t *testing.T) {
	raw, err := os.ReadFile("testdata/miniupnpd-2.3.1-WANIP6FC.xml")
	if err != nil {
		t.Fatal(err)
	}
	var desc scpd
	if err := xml.Unmarshal(raw, &desc); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	calls := map[string]func(c *Client) error{
		"GetFirewallStatus": func(c *Client) error { _, err := c.GetFirewallStatus(ctx); return err },
		"GetOutboundPinholeTimeout": func(c *Client) error {
			_, err := c.GetOutboundPinholeTimeout(ctx, testPinhole)
			return err
		},
		"AddPinhole":          func(c *Client) error { _, err := c.AddPinhole(ctx, testPinhole); return err },
		"UpdatePinhole":       func(c *Client) error { return c.UpdatePinhole(ctx, 1, MinPinholeLease) },
		"DeletePinhole":       func(c *Client) error { return c.DeletePinhole(ctx, 1) },
		"GetPinholePackets":   func(c *Client) error { _, err := c.GetPinholePackets(ctx, 1); return err },
		"CheckPinholeWorking": func(c *Client) error { _, err := c.CheckPinholeWorking(ctx, 1); return err },
	}
	if len(desc.Actions) != len(calls) {
		t.Errorf("the SCPD has %d actions, the client %d", len(desc.Actions), len(calls))
	}
	for _, a := range desc.Actions {
		t.Run(a.Name, func(t *testing.T) {
			call, ok := calls[a.Name]
			if !ok {
				t.Fatalf("no method for %s", a.Name)
			}
			var in, out []string
			for _, arg := range a.Args {
				if arg.Direction == "in" {
					in = append(in, arg.Name)
				} else {
					out = append(out, arg.Name, "1") // "1" parses as every out type
				}
			}
			f := newFake(t, func(action, _ string) answer { return okReply(fw, action, out...) })
			if err := call(f.client(ServiceWANIPv6Firewall1)); err != nil {
				t.Fatalf("reply with the SCPD's out-arguments: %v", err)
			}
			if got := requestArgNames(t, f.last().body); !reflect.DeepEqual(got, in) {
				t.Errorf("in-arguments %v, SCPD says %v", got, in)
			}
		})
	}
}

// requestArgNames lists the child elements of the action element of a
// request body, in order.
func requestArgNames(t *testing.T, body string) []string {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(body))
	var names []string
	depth := 0
	for {
		tok, err := d.Token()
		if err != nil {
			return names
		}
		switch el := tok.(type) {
		case xml.StartElement:
			depth++
			if depth == 4 { // Envelope > Body > action > argument
				names = append(names, el.Name.Local)
			}
		case xml.EndElement:
			depth--
		}
	}
}
