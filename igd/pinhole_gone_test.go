package igd

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

func TestIsPinholeGone(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		action string
		code   int
		want   bool
	}{
		{"DeletePinhole", 704, true},
		{"UpdatePinhole", 704, true},
		{"GetPinholePackets", 704, true},
		{"CheckPinholeWorking", 704, true},
		// miniupnpd 2.3.1 (nftables) for a UniqueID it no longer holds,
		// seen in a netns lab: "Failed to convert hostname … Returning
		// UPnPError 402".
		{"DeletePinhole", 402, true},
		{"UpdatePinhole", 402, true},
		{"AddPinhole", 402, false}, // a bad lease or address: not about an entry
		{"DeletePinhole", 606, false},
		{"DeletePinhole", 501, false},
		{"UpdatePinhole", 702, false},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprint(tc.action, tc.code), func(t *testing.T) {
			f := newFake(t, func(string, string) answer { return faultReply(tc.code, "Invalid Args") })
			c := f.client(ServiceWANIPv6Firewall1)
			var err error
			switch tc.action {
			case "DeletePinhole":
				err = c.DeletePinhole(ctx, 1)
			case "UpdatePinhole":
				err = c.UpdatePinhole(ctx, 1, MaxPinholeLease)
			case "GetPinholePackets":
				_, err = c.GetPinholePackets(ctx, 1)
			case "CheckPinholeWorking":
				_, err = c.CheckPinholeWorking(ctx, 1)
			case "AddPinhole":
				_, err = c.AddPinhole(ctx, testPinhole)
			}
			if got := IsPinholeGone(err); got != tc.want {
				t.Errorf("IsPinholeGone(%v) = %v, want %v", err, got, tc.want)
			}
			// Wrapping keeps the answer.
			if got := IsPinholeGone(fmt.Errorf("renewing: %w", err)); got != tc.want {
				t.Errorf("wrapped: %v", got)
			}
		})
	}
	// A 704 or 402 from a port-mapping action says nothing about pinholes.
	f := newFake(t, func(string, string) answer { return faultReply(402, "Invalid Args") })
	if err := f.client(ServiceWANIP2).DeletePortMapping(ctx, "", 80, TCP); IsPinholeGone(err) {
		t.Errorf("IsPinholeGone(%v) = true", err)
	}
	if IsPinholeGone(nil) || IsPinholeGone(errors.New("x")) {
		t.Error("IsPinholeGone true for a non-UPnP error")
	}
}
