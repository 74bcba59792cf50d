// Command relayload is the load side of bench/relay.sh: echo targets, the
// measurements (request/response latency, connection rate, idle connections
// held open, UDP echo rate) and, for the relay under test, a thin wrapper
// around package relay. Apart from that wrapper it uses only the standard
// library. Every mode is bounded in time or count.
//
//	relayload echo     -tcp ADDR -udp ADDR
//	relayload relay    -network tcp|udp -listen ADDR -target ADDR [-max-conns N] [-cpuprofile FILE]
//	relayload rr       -addr ADDR [-size 64] [-d 2s]            → "p50_us=… p99_us=… n=…"
//	relayload connrate -addr ADDR [-c 32] [-d 3s]               → "conns_per_s=…"
//	relayload hold     -addr ADDR [-n 5000] [-exchange=false]   → "held N", then holds until stdin closes
//	relayload udpflood -addr ADDR [-clients 4] [-window 32] [-size 64] [-d 3s] → "pps=…"
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/upnpmap/upnpmap/relay"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: relayload echo|relay|rr|connrate|hold|udpflood [flags]")
		os.Exit(2)
	}
	mode, args := os.Args[1], os.Args[2:]
	fs := flag.NewFlagSet(mode, flag.ExitOnError)
	var (
		addr     = fs.String("addr", "", "address to load")
		tcpAddr  = fs.String("tcp", "", "echo: TCP address")
		udpAddr  = fs.String("udp", "", "echo: UDP address")
		network  = fs.String("network", "tcp", "relay: tcp or udp")
		listen   = fs.String("listen", "", "relay: listen address")
		target   = fs.String("target", "", "relay: target address")
		maxConns = fs.Int("max-conns", 20000, "relay: connection cap")
		perSrc   = fs.Int("per-source", -1, "relay: per-source cap (-1: off, as every load comes from 127.0.0.1)")
		size     = fs.Int("size", 64, "payload size")
		dur      = fs.Duration("d", 3*time.Second, "duration")
		conc     = fs.Int("c", 32, "concurrency")
		n        = fs.Int("n", 5000, "connections to hold")
		clients  = fs.Int("clients", 4, "UDP clients")
		window   = fs.Int("window", 32, "UDP datagrams in flight per client")
		cpuprof  = fs.String("cpuprofile", "", "relay: write a CPU profile here")
		exch     = fs.Bool("exchange", true, "hold: one byte each way on every connection before holding")
	)
	fs.Parse(args)
	var err error
	switch mode {
	case "echo":
		err = runEcho(*tcpAddr, *udpAddr)
	case "relay":
		if *cpuprof != "" {
			f, perr := os.Create(*cpuprof)
			if perr != nil {
				err = perr
				break
			}
			pprof.StartCPUProfile(f)
			defer f.Close()
			defer pprof.StopCPUProfile()
		}
		err = runRelay(*network, *listen, *target, *maxConns, *perSrc)
	case "rr":
		err = runRR(*addr, *size, *dur)
	case "connrate":
		err = runConnRate(*addr, *size, *conc, *dur)
	case "hold":
		err = runHold(*addr, *n, *exch)
	case "udpflood":
		err = runUDPFlood(*addr, *size, *clients, *window, *dur)
	default:
		err = fmt.Errorf("unknown mode %q", mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "relayload:", err)
		defer os.Exit(1) // after the deferred profile stop
	}
}

func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
}

// runRelay runs the relay under test until SIGTERM.
// The peers have no per-source limits, and every client here is 127.0.0.1.
func runRelay(network, listen, target string, maxConns, perSource int) error {
	ctx, stop := signalContext()
	defer stop()
	r := &relay.Relay{Network: network, Listen: listen, Target: target, MaxConns: maxConns, MaxSessions: maxConns,
		MaxConnsPerSource: perSource, MaxSessionsPerSource: perSource, ShutdownTimeout: -1}
	return r.Run(ctx)
}

// runEcho serves TCP echo (with half-close) and UDP echo until SIGTERM.
func runEcho(tcpAddr, udpAddr string) error {
	ctx, stop := signalContext()
	defer stop()
	var wg sync.WaitGroup
	if tcpAddr != "" {
		l, err := net.Listen("tcp", tcpAddr)
		if err != nil {
			return err
		}
		defer l.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				c, err := l.Accept()
				if err != nil {
					if errors.Is(err, net.ErrClosed) {
						return
					}
					time.Sleep(time.Millisecond)
					continue
				}
				go func() {
					tc := c.(*net.TCPConn)
					io.Copy(tc, tc)
					tc.Close()
				}()
			}
		}()
		go func() { <-ctx.Done(); l.Close() }()
	}
	if udpAddr != "" {
		pc, err := net.ListenPacket("udp", udpAddr)
		if err != nil {
			return err
		}
		defer pc.Close()
		uc := pc.(*net.UDPConn)
		uc.SetReadBuffer(4 << 20)
		uc.SetWriteBuffer(4 << 20)
		for i := 0; i < 2; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				b := make([]byte, 65536)
				for {
					n, from, err := uc.ReadFromUDPAddrPort(b)
					if err != nil {
						if errors.Is(err, net.ErrClosed) {
							return
						}
						continue
					}
					uc.WriteToUDPAddrPort(b[:n], from)
				}
			}()
		}
		go func() { <-ctx.Done(); pc.Close() }()
	}
	fmt.Println("ready")
	<-ctx.Done()
	wg.Wait()
	return nil
}

// runRR measures request/response latency over one connection.
func runRR(addr string, size int, d time.Duration) error {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.(*net.TCPConn).SetNoDelay(true)
	req, resp := make([]byte, size), make([]byte, size)
	var lat []time.Duration
	end := time.Now().Add(d)
	c.SetDeadline(end.Add(5 * time.Second))
	for i := 0; i < 5_000_000 && time.Now().Before(end); i++ {
		t0 := time.Now()
		if _, err := c.Write(req); err != nil {
			return err
		}
		if _, err := io.ReadFull(c, resp); err != nil {
			return err
		}
		if i >= 100 { // warm-up
			lat = append(lat, time.Since(t0))
		}
	}
	if len(lat) == 0 {
		return errors.New("no samples")
	}
	slices.Sort(lat)
	us := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))].Nanoseconds()) / 1e3 }
	fmt.Printf("p50_us=%.1f p99_us=%.1f n=%d\n", us(0.50), us(0.99), len(lat))
	return nil
}

// runConnRate opens, uses (one request/response) and resets connections
// from conc workers for d and prints the rate.
func runConnRate(addr string, size, conc int, d time.Duration) error {
	var done, failed atomic.Int64
	end := time.Now().Add(d)
	var wg sync.WaitGroup
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := make([]byte, size)
			for time.Now().Before(end) {
				c, err := net.DialTimeout("tcp", addr, 2*time.Second)
				if err != nil {
					failed.Add(1)
					time.Sleep(time.Millisecond)
					continue
				}
				tc := c.(*net.TCPConn)
				tc.SetDeadline(time.Now().Add(2 * time.Second))
				_, err = tc.Write(b)
				if err == nil {
					_, err = io.ReadFull(tc, b)
				}
				// A reset instead of a FIN keeps the client's ports out of
				// TIME_WAIT; every relay is treated the same.
				tc.SetLinger(0)
				tc.Close()
				if err != nil {
					failed.Add(1)
					continue
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	fmt.Printf("conns_per_s=%.0f failed=%d\n", float64(done.Load())/d.Seconds(), failed.Load())
	return nil
}

// runHold opens n connections, checks each with one echo (unless told not
// to), prints "held n"
// and keeps them until stdin closes (or 120 s pass).
func runHold(addr string, n int, exchange bool) error {
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < n; i++ {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			return fmt.Errorf("connection %d: %w", i, err)
		}
		conns = append(conns, c)
	}
	// One byte each way proves every connection reached the target; after
	// it they are idle.
	b := []byte{1}
	for i, c := range conns {
		if !exchange {
			break
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write(b); err != nil {
			return fmt.Errorf("connection %d: %w", i, err)
		}
		if _, err := io.ReadFull(c, b); err != nil {
			return fmt.Errorf("connection %d: %w", i, err)
		}
		c.SetDeadline(time.Time{})
	}
	fmt.Println("held", len(conns))
	wait := make(chan struct{})
	go func() { io.Copy(io.Discard, bufio.NewReader(os.Stdin)); close(wait) }()
	select {
	case <-wait:
	case <-time.After(120 * time.Second):
	}
	return nil
}

// runUDPFlood keeps window datagrams in flight from each of clients sockets
// and counts echoes for d. A read that times out re-sends the window, so a
// lost datagram does not stall a client.
func runUDPFlood(addr string, size, clients, window int, d time.Duration) error {
	var got atomic.Int64
	end := time.Now().Add(d)
	var wg sync.WaitGroup
	errc := make(chan error, clients)
	for i := 0; i < clients; i++ {
		c, err := net.Dial("udp", addr)
		if err != nil {
			return err
		}
		defer c.Close()
		uc := c.(*net.UDPConn)
		uc.SetReadBuffer(1 << 20)
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, rb := make([]byte, size), make([]byte, 65536)
			burst := func() {
				for j := 0; j < window; j++ {
					uc.Write(b)
				}
			}
			burst()
			for time.Now().Before(end) {
				uc.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
				if _, err := uc.Read(rb); err != nil {
					var ne net.Error
					if errors.As(err, &ne) && ne.Timeout() {
						burst()
						continue
					}
					if errors.Is(err, syscall.ECONNREFUSED) {
						time.Sleep(time.Millisecond)
						burst()
						continue
					}
					errc <- err
					return
				}
				got.Add(1)
				uc.Write(b)
			}
		}()
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		return err
	}
	fmt.Printf("pps=%.0f\n", float64(got.Load())/d.Seconds())
	return nil
}
