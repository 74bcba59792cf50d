package upnpmap

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

// TestDeniedRequestNotRepeated: a NAT-PMP or PCP request for a port the
// router denies is never sent twice in a row (miniupnpd stalls for about
// 45 s on each, for everyone): a second Map for it fails at once with the
// first one's error, and after deniedHold it is asked again. A request left
// unanswered by a method that answers otherwise counts the same.
func TestDeniedRequestNotRepeated(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"not authorized", fmt.Errorf("%w: NAT-PMP result 2", ErrNotAuthorized)},
		{"unanswered", fmt.Errorf("%w: no answer", ErrTimeout)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(NATPMP)
			c, fc := fakeClient(t, f)
			f.set(func(f *fakeMapper) { f.mapErrs = []error{tc.err, tc.err} })
			ctx := context.Background()
			for i := range 2 {
				if _, err := c.Map(ctx, Request{InternalPort: 22}); !errors.Is(err, tc.err) {
					t.Fatalf("Map %d: %v, want %v", i+1, err, tc.err)
				}
			}
			if n := f.count("map"); n != 1 {
				t.Fatalf("%d NAT-PMP requests for the denied port, want 1", n)
			}
			// Another port is asked as usual.
			if _, err := c.Map(ctx, Request{InternalPort: 2222}); !errors.Is(err, tc.err) {
				t.Fatalf("Map of another port: %v", err)
			}
			if n := f.count("map"); n != 2 {
				t.Fatalf("%d NAT-PMP requests after another port, want 2", n)
			}
			fc.Advance(deniedHold)
			m, err := c.Map(ctx, Request{InternalPort: 22})
			if err != nil {
				t.Fatalf("Map after the hold: %v", err)
			}
			m.Close()
			if n := f.count("map"); n != 3 {
				t.Fatalf("%d NAT-PMP requests after the hold, want 3", n)
			}
		})
	}
}
