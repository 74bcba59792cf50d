package pcp

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/internal/udpx/udptest"
)

// TestDebugRecordsEachExchange: with a Logger, every request and the reply
// that answers it are recorded (upnpmap -v shows them): opcode, nonce, port,
// lifetime asked and granted, result, epoch.
func TestDebugRecordsEachExchange(t *testing.T) {
	r := udptest.New(t, "127.0.0.1:0", fakeServer)
	var logs bytes.Buffer
	c := newClient(r)
	c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if _, err := c.Announce(t.Context()); err != nil {
		t.Fatal(err)
	}
	m, err := c.Map(t.Context(), MapRequest{Protocol: TCP, InternalPort: 7000, Lifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	if n := strings.Count(out, "pcp: request"); n != 2 {
		t.Errorf("%d requests logged, want 2:\n%s", n, out)
	}
	if n := strings.Count(out, "pcp: reply"); n != 2 {
		t.Errorf("%d replies logged, want 2:\n%s", n, out)
	}
	for _, want := range []string{"op=ANNOUNCE", "op=MAP", "nonce=" + m.Nonce.String(), "internal_port=7000",
		"lifetime=1h0m0s", "result=SUCCESS", "external="} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
}
