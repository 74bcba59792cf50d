//go:build linux && labpending

package labtest

import (
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/internal/netlab"
)

// TestDoubleNATCLIDelete: `upnpmap delete` of a chained mapping removes
// both legs. Built with -tags labpending until the CLI does: it deletes
// the inner leg only and leaves the ISP router forwarding to it.
func TestDoubleNATCLIDelete(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 2*time.Minute)
	lab := newLab(t, ctx, netlab.Options{Nested: true})
	cliDeleteBoth(t, ctx, lab, t.TempDir())
}
