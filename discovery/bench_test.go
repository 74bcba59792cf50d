package discovery

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// BenchmarkSearchFirstAnswer measures a whole unicast search over loopback,
// from the call to the first answer delivered (sockets opened, requests
// sent, answer parsed), then the cancel and release.
func BenchmarkSearchFirstAnswer(b *testing.B) {
	resp := newResponder(b, "127.0.0.2:0", 0, echoST("http://127.0.0.2:5000/rootDesc.xml", "uuid:gw"))
	s := &Searcher{Unicast: []netip.AddrPort{resp.Addr}, Targets: []string{TargetIGD1}}
	b.ReportAllocs()
	var first time.Duration
	for i := 0; i < b.N; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		start := time.Now()
		got := false
		err := s.Search(ctx, func(Response) {
			if !got {
				got = true
				first += time.Since(start)
			}
			cancel()
		})
		cancel()
		if err != nil || !got {
			b.Fatalf("no answer: %v", err)
		}
	}
	b.ReportMetric(float64(first.Microseconds())/float64(b.N), "µs-to-first")
}

// BenchmarkFetchParse measures Fetch of a typical IGD:2 description over
// loopback HTTP: a fresh client and connection, the download, the parse.
func BenchmarkFetchParse(b *testing.B) {
	srv := serveHTTP(b, "127.0.0.1:0", xmlHandler(igdDescription))
	loc := mustURL(b, "http://"+srv.String()+"/rootDesc.xml")
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		root, err := Fetch(context.Background(), loc, srv.Addr(), nil)
		if err != nil || len(root.Services()) != 4 {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseDescription is the parse alone.
func BenchmarkParseDescription(b *testing.B) {
	loc := mustURL(b, "http://192.168.1.1:5000/rootDesc.xml")
	doc := []byte(igdDescription)
	b.ReportAllocs()
	b.SetBytes(int64(len(doc)))
	for i := 0; i < b.N; i++ {
		if _, err := ParseDescription(doc, loc, gw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseResponse is one SSDP answer's parse.
func BenchmarkParseResponse(b *testing.B) {
	msg := okAnswer("http://192.168.1.1:5000/rootDesc.xml", TargetIGD1, "uuid:abc::"+TargetIGD1)
	from := netip.MustParseAddrPort("192.168.1.1:1900")
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := ParseResponse(msg, from); err != nil {
			b.Fatal(err)
		}
	}
}

// hostileDeepDescription is issue 21's hostile description: devices nested
// 6,000 deep, about 250 KB, under the 256 KiB fetch limit.
func hostileDeepDescription() []byte {
	const depth = 6000
	var b strings.Builder
	b.WriteString(`<?xml version="1.0"?><root xmlns="urn:schemas-upnp-org:device-1-0"><device>`)
	for i := 0; i < depth; i++ {
		b.WriteString("<deviceList><device>")
	}
	for i := 0; i < depth; i++ {
		b.WriteString("</device></deviceList>")
	}
	b.WriteString("</device></root>")
	return []byte(b.String())
}

// BenchmarkParseHostileDeep measures what rejecting the 6,000-deep
// description costs (B/op is the figure: the limits are checked as tokens
// arrive, so the cost stops at the depth limit).
func BenchmarkParseHostileDeep(b *testing.B) {
	loc := mustURL(b, "http://192.168.1.1:5000/rootDesc.xml")
	doc := hostileDeepDescription()
	b.ReportAllocs()
	b.SetBytes(int64(len(doc)))
	for i := 0; i < b.N; i++ {
		if _, err := ParseDescription(doc, loc, gw); err == nil {
			b.Fatal("accepted")
		}
	}
}
