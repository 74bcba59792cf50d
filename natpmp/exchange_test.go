package natpmp

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/internal/udpx/udptest"
)

// TestDebugRecordsEachExchange: with a Logger, every request and the reply
// that answers it are recorded (upnpmap -v shows them), with what a reader
// needs to follow the exchange: opcode, ports, lifetime, result, epoch.
func TestDebugRecordsEachExchange(t *testing.T) {
	r := udptest.New(t, "127.0.0.1:0", fakeGateway)
	var logs bytes.Buffer
	c := newClient(r)
	c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if _, err := c.ExternalAddress(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Map(t.Context(), TCP, 7000, 7001, time.Hour); err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	if n := strings.Count(out, "natpmp: request"); n != 2 {
		t.Errorf("%d requests logged, want 2:\n%s", n, out)
	}
	if n := strings.Count(out, "natpmp: reply"); n != 2 {
		t.Errorf("%d replies logged, want 2:\n%s", n, out)
	}
	for _, want := range []string{`op="external address"`, `op="map TCP"`, "internal_port=7000", "suggested_port=7001",
		"lifetime=1h0m0s", "result=success", "external="} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
}

// TestPrivilegedPortSentOnce: a mapping request for a port below 1024 is
// sent once (miniupnpd stalls ~45 s per such request when its rules deny
// the port, and queues each retransmission), waiting as long as the whole
// schedule would; deletes and other ports are retransmitted as §3.1 says.
func TestPrivilegedPortSentOnce(t *testing.T) {
	for _, tt := range []struct {
		name                string
		internal, suggested uint16
		lifetime            time.Duration
		once                bool
	}{
		{"internal 22", 22, 0, time.Hour, true},
		{"external 80", 8080, 80, time.Hour, true},
		{"high ports", 8080, 8080, time.Hour, false},
		{"delete of 22", 22, 0, 0, false},
	} {
		r := udptest.New(t, "127.0.0.1:0", nil) // silent
		c := newClient(r)
		req := AppendMapRequest(nil, TCP, tt.internal, tt.suggested, tt.lifetime)
		_, err := c.exchange(t.Context(), req, OpMapTCP, tt.internal)
		if err == nil {
			t.Fatal("a silent gateway answered")
		}
		n := requestsAtLeast(r, 2) // the client has returned: no more will come
		if tt.once && n != 1 {
			t.Errorf("%s: %d transmissions, want 1", tt.name, n)
		}
		if !tt.once && n != 4 {
			t.Errorf("%s: %d transmissions, want MaxAttempts (4)", tt.name, n)
		}
	}
}
