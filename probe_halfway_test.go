package upnpmap

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/gatewaytest"
)

// TestMapHalfwayIsTimeout: a gateway that answers a method's first request
// and then not the next is there: Map's error wraps ErrTimeout, not
// ErrNoGateway (which sends people looking for the router). NAT-PMP's
// external address answered, its MAP silent; UPnP's SSDP answered, its
// description silent.
func TestMapHalfwayIsTimeout(t *testing.T) {
	for _, tc := range []struct {
		method Method
		mute   func(gw *gatewaytest.Gateway)
	}{
		{NATPMP, func(gw *gatewaytest.Gateway) { gw.SetMapSilent(gatewaytest.NATPMP, true) }},
		{UPnP, func(gw *gatewaytest.Gateway) { gw.SetSilent(gatewaytest.SOAP, true) }},
	} {
		t.Run(string(tc.method), func(t *testing.T) {
			gw, c := testGateway(t, gatewaytest.Config{}, tc.method)
			c.RequestTimeout = 500 * time.Millisecond
			tc.mute(gw)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			m, err := c.Map(ctx, Request{InternalPort: 5340, Lifetime: time.Hour})
			if err == nil {
				m.Close()
				t.Fatal("Map succeeded against a silent gateway")
			}
			if !errors.Is(err, ErrTimeout) || errors.Is(err, ErrNoGateway) {
				t.Fatalf("error %q: want ErrTimeout and not ErrNoGateway", err)
			}
		})
	}
}
