package udpx

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/upnpmap/upnpmap/internal/errs"
	"github.com/upnpmap/upnpmap/internal/udpx/udptest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestLock(t *testing.T) {
	var l Lock // the zero value works
	if err := l.Lock(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if err := l.Lock(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second Lock while held: %v", err)
	}
	if err := LockError(ctx.Err()); !errors.Is(err, errs.Timeout) {
		t.Errorf("LockError(deadline) = %v, want errs.Timeout", err)
	}
	if err := LockError(context.Canceled); errors.Is(err, errs.Timeout) || !errors.Is(err, context.Canceled) {
		t.Errorf("LockError(canceled) = %v", err)
	}
	l.Unlock()
	if err := l.Lock(t.Context()); err != nil {
		t.Fatalf("Lock after Unlock: %v", err)
	}
	l.Unlock()
}

func TestDoSendsNothingOnADeadContext(t *testing.T) {
	r := udptest.New(t, "127.0.0.1:0", nil)
	c, err := Dial(t.Context(), r.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err = c.Do(ctx, &Exchange{
		Request: []byte{1},
		Next:    func() (time.Duration, bool) { return time.Second, true },
		Handle:  func([]byte) bool { return true },
		BufSize: 8,
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v", err)
	}
	time.Sleep(10 * time.Millisecond)
	if n := len(r.Requests()); n != 0 {
		t.Errorf("%d datagrams sent on a cancelled context", n)
	}
}

func TestDoHandsOverOnlyThePeersDatagrams(t *testing.T) {
	r := udptest.New(t, "127.0.0.1:0", func(r *udptest.Responder, req udptest.Request) {
		r.Reply(req, []byte("no"))
		r.Reply(req, []byte("yes"))
	})
	c, err := Dial(t.Context(), r.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.LocalAddr().Addr() != r.Addr().Addr() {
		t.Errorf("local address %v, want the loopback address", c.LocalAddr())
	}
	var seen []string
	err = c.Do(t.Context(), &Exchange{
		Request: []byte("q"),
		Next:    func() (time.Duration, bool) { return time.Second, true },
		Handle:  func(b []byte) bool { seen = append(seen, string(b)); return string(b) == "yes" },
		BufSize: 8,
	})
	if err != nil || len(seen) != 2 || seen[1] != "yes" {
		t.Errorf("err = %v, seen %q", err, seen)
	}
}

// TestDialContextEnded: a budget spent before the socket is made (a loaded
// machine) is a timeout like any other, not net's bare "i/o timeout"; a
// cancel stays a cancel.
func TestDialContextEnded(t *testing.T) {
	peer := netip.MustParseAddrPort("127.0.0.1:9") // dialing UDP sends nothing
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	if c, err := Dial(ctx, peer); !errors.Is(err, errs.Timeout) || !errors.Is(err, context.DeadlineExceeded) {
		if c != nil {
			c.Close()
		}
		t.Fatalf("Dial after the deadline: %v, want errs.Timeout and context.DeadlineExceeded", err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if c, err := Dial(ctx, peer); !errors.Is(err, context.Canceled) || errors.Is(err, errs.Timeout) {
		if c != nil {
			c.Close()
		}
		t.Fatalf("Dial after cancel: %v, want context.Canceled, not errs.Timeout", err)
	}
}
