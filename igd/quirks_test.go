package igd_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/upnpmap/upnpmap/gatewaytest"
	"github.com/upnpmap/upnpmap/igd"
)

// TestQuirkHostileFaultText: a fault whose errorDescription is huge (60 KB)
// or full of C1 and bidi characters is still read as the UPnP error it is,
// naming the action that failed, so callers can explain it in context.
func TestQuirkHostileFaultText(t *testing.T) {
	for name, text := range map[string]string{
		"huge":     strings.Repeat("port in use ", 5000),
		"controls": gatewaytest.HostileText,
	} {
		t.Run(name, func(t *testing.T) {
			gw := gatewaytest.New(t, gatewaytest.Config{})
			gw.FailActionText("GetExternalIPAddress", 718, text)
			_, err := clientFor(t, gw).GetExternalIPAddress(t.Context())
			var ue *igd.UPnPError
			if !errors.As(err, &ue) || ue.Code != 718 || ue.Action != "GetExternalIPAddress" {
				t.Fatalf("error %T %.200v; want UPnPError 718 from GetExternalIPAddress", err, err)
			}
		})
	}
}
