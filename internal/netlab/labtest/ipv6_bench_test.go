//go:build linux

package labtest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/internal/netlab"
)

// BenchmarkIPv6Pinhole measures the time to an IPv6 pinhole on the lab's
// miniupnpd 2.3.1, in one run, one lab:
//
//   - igd: the library's igd client in a client process on LAN1: fetch the
//     description, find WANIPv6FirewallControl, GetFirewallStatus,
//     AddPinhole (what a first pinhole costs; upnpc does the same steps);
//   - pcp: the library's pcp client: one MAP of the host's IPv6 address;
//   - cli: `upnpmap add PORT -6 --json` run in LAN1, nothing given (the
//     IPv6 router from the routing table, the address from the host's),
//     process start included; it opens the pinhole by PCP, which
//     miniupnpd answers; the `upnpmap delete` after it is not timed;
//   - upnpc: miniupnpc's `upnpc -6 -u URL -A` run in LAN1, with the
//     description URL given (no discovery wait), process start included;
//   - exec: `ip netns exec LAN1 true`, the process start that the upnpc
//     figure includes and ours does not (our client process is already up);
//   - cli-start: `upnpmap version` in LAN1, the start of the CLI process
//     that the cli figure includes (a Go binary starts slower than upnpc).
//
// Each op is timed in the test process, the round trip to the client
// process included; "client-ms/op" is the same op timed inside that
// process. The delete after each op is not timed.
//
//	ip netns exec t-me go test -run '^$' -bench IPv6Pinhole -benchtime 200x ./internal/netlab/labtest/
func BenchmarkIPv6Pinhole(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	lab := newLab(b, ctx, netlab.Options{IPv6: true}, "upnpc")
	buildCLI(b)
	host := lab.Addr6(netlab.LAN1)
	p := startPinholeClient(b, ctx, lab, netlab.LAN1)

	// inClient runs open and close commands on the pinhole client, timing
	// only the opens.
	inClient := func(b *testing.B, open func() string, wantType string, closeCmd func(msg) string) {
		var inside time.Duration
		for b.Loop() {
			m := p.askPinhole(open())
			if m.Type != wantType {
				b.Fatalf("%s: %+v", open(), m)
			}
			inside += m.Elapsed
			b.StopTimer()
			if d := p.askPinhole(closeCmd(m)); d.Type != "deleted" || d.Err != "" {
				b.Fatalf("%s: %+v", closeCmd(m), d)
			}
			b.StartTimer()
		}
		b.ReportMetric(float64(inside.Microseconds())/1000/float64(b.N), "client-ms/op")
	}
	b.Run("igd", func(b *testing.B) {
		inClient(b, func() string { return "upnp-add 18800" }, "pinhole",
			func(m msg) string { return fmt.Sprintf("upnp-delete %d", m.Pinhole) })
	})
	b.Run("pcp", func(b *testing.B) {
		inClient(b, func() string { return "pcp-map 18801" }, "mapped",
			func(msg) string { return "pcp-delete 18801" })
	})
	b.Run("cli", func(b *testing.B) {
		state := b.TempDir()
		for b.Loop() {
			out, err := benchCLI(ctx, lab, state, "add", "18803", "-6", "--json")
			if err != nil || !strings.Contains(out, `"family":"ipv6"`) {
				b.Fatalf("upnpmap add 18803 -6 --json: %v\n%s", err, out)
			}
			b.StopTimer()
			if out, err := benchCLI(ctx, lab, state, "delete", "18803"); err != nil {
				b.Fatalf("upnpmap delete 18803: %v\n%s", err, out)
			}
			b.StartTimer()
		}
	})
	b.Run("upnpc", func(b *testing.B) {
		for b.Loop() {
			id := upnpcAddPinhole(b, ctx, lab, host, 18802)
			b.StopTimer()
			if out, err := lab.Exec(ctx, netlab.LAN1, "upnpc", "-6", "-u", lab.DescURL6(), "-D", id); err != nil {
				b.Fatalf("upnpc -6 -D: %v\n%s", err, out)
			}
			b.StartTimer()
		}
	})
	b.Run("cli-start", func(b *testing.B) {
		state := b.TempDir()
		for b.Loop() {
			if out, err := benchCLI(ctx, lab, state, "version"); err != nil {
				b.Fatalf("upnpmap version: %v\n%s", err, out)
			}
		}
	})
	b.Run("exec", func(b *testing.B) {
		for b.Loop() {
			if out, err := lab.Exec(ctx, netlab.LAN1, "true"); err != nil {
				b.Fatalf("ip netns exec true: %v\n%s", err, out)
			}
		}
	})
}

// benchCLI runs the CLI in LAN1 and returns its output (stdout only: the
// benchmark reads its JSON).
func benchCLI(ctx context.Context, lab *netlab.Lab, state string, args ...string) (string, error) {
	cmd := lab.Cmd(ctx, netlab.LAN1, cli.path, args...)
	cmd.Env = cliEnv(state)
	out, err := cmd.Output()
	return string(out), err
}
