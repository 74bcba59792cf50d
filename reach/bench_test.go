package reach

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"
)

// BenchmarkServerCheck measures the checks per second one checker serves on
// loopback: each a TCP request, a TCP probe to a listening application that
// closes at once, and the answer. Run it on one core for the README figure:
//
//	go test -run X -bench ServerCheck -benchmem -cpu 1 ./reach
func BenchmarkServerCheck(b *testing.B) {
	s := &Server{Rate: 1e9, Burst: 1 << 30, MaxProbes: 1 << 10}
	startServer(b, s)
	app, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer app.Close()
	go func() {
		for {
			c, err := app.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	port := uint16(app.Addr().(*net.TCPAddr).Port)
	req := appendRequest(nil, request{proto: TCP, port: port, nonce: Nonce{1}})
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		a, err := parseAnswer(rawAsk(b, s.LocalAddr(), netip.Addr{}, req))
		if err != nil || a.code != CodeOpen {
			b.Fatalf("%v %v", a.code, err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "checks/s")
}

// BenchmarkServerCheckParallel is the same with 16 clients per core at once:
// the checker's throughput rather than one client's round trip.
func BenchmarkServerCheckParallel(b *testing.B) {
	s := &Server{Rate: 1e9, Burst: 1 << 30, MaxProbes: 1 << 10}
	startServer(b, s)
	app, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer app.Close()
	go func() {
		for {
			c, err := app.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	port := uint16(app.Addr().(*net.TCPAddr).Port)
	req := appendRequest(nil, request{proto: TCP, port: port, nonce: Nonce{1}})
	b.ReportAllocs()
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			a, err := askTCP(context.Background(), s.LocalAddr(), req)
			if err != nil || a.code != CodeOpen {
				b.Errorf("%v %v", a.code, err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "checks/s")
}

// BenchmarkServerSTUN measures STUN Binding answers per second.
func BenchmarkServerSTUN(b *testing.B) {
	s := &Server{Rate: 1e9, Burst: 1 << 30}
	startServer(b, s)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer pc.Close()
	req, _ := bindingRequest(1)
	dst := net.UDPAddrFromAddrPort(s.LocalAddr())
	buf := make([]byte, 128)
	b.ReportAllocs()
	for b.Loop() {
		pc.WriteTo(req, dst)
		if _, _, err := pc.ReadFrom(buf); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "answers/s")
}

// BenchmarkLimiterNewSource measures what each new source costs the rate
// limiter's table (bounded by MaxSources): its memory is B/op.
func BenchmarkLimiterNewSource(b *testing.B) {
	l := limiter{rate: 1, burst: 5, maxSources: 1 << 30}
	now := time.Now()
	b.ReportAllocs()
	i := uint32(0)
	for b.Loop() {
		i++
		l.allow(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), now)
	}
}
