package natpmp_test

import (
	"errors"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/gatewaytest"
	"github.com/upnpmap/upnpmap/natpmp"
)

// TestQuirkUnknownResultCode: a result code RFC 6886 does not define is an
// answer, not silence: Map returns it at once as a *ResultError carrying
// the code, after a single request (§3.5: treat it as fatal).
func TestQuirkUnknownResultCode(t *testing.T) {
	for _, code := range []int{6, 99, 65535} {
		gw := gatewaytest.New(t, gatewaytest.Config{})
		gw.SetResult(gatewaytest.NATPMP, code)
		_, err := client(gw).Map(t.Context(), natpmp.TCP, 8080, 8080, time.Hour)
		var re *natpmp.ResultError
		if !errors.As(err, &re) || int(re.Code) != code || errors.Is(err, natpmp.ErrTimeout) {
			t.Errorf("result %d: Map error %v; want a *ResultError with that code", code, err)
		}
		if n := gw.Requests(gatewaytest.NATPMP); n != 1 {
			t.Errorf("result %d: %d requests, want 1", code, n)
		}
	}
}
