//go:build linux

package labtest

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/upnpmap/upnpmap/internal/netlab"
)

// sshBenchBytes is what one throughput iteration sends through a tunnel.
const sshBenchBytes = 64 << 20

// sshBenchConns is how many connections the connection-setup figure is the
// median of.
const sshBenchConns = 50

// BenchmarkSSHTunnel compares, on one path (a host on the WAN side, the WAN
// host's sshd, the LAN host behind the router's NAT), a remote forward made
// by `upnpmap add --via` with one made by OpenSSH's `ssh -N -R`: throughput
// (MB/s, sshBenchBytes per iteration) and the median time of one
// connection through the tunnel (connect, half-close, read the answer,
// close). Run it once:
//
//	go test -run '^$' -bench SSHTunnel -benchtime 3x ./internal/netlab/labtest/
func BenchmarkSSHTunnel(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	lab := newLab(b, ctx, netlab.Options{}, "sshd", "ssh-keygen", "ss", "ssh", "unshare", "mount")
	sshd, err := lab.StartSSHD(ctx, b, netlab.WAN, netlab.SSHDOptions{})
	if err != nil {
		b.Fatal(err)
	}
	// buildCLI takes a *testing.T; a benchmark builds its own (no -race).
	cli := filepath.Join(b.TempDir(), "upnpmap")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", cli, "github.com/upnpmap/upnpmap/cmd/upnpmap").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		name  string
		port  uint16
		start func(port uint16) *exec.Cmd
	}{
		{"upnpmap", 21030, func(port uint16) *exec.Cmd {
			cmd := lab.Cmd(ctx, netlab.LAN1, cli, "add", fmt.Sprint(port), "--method", "ssh", "--via", sshd.URL(),
				"--ssh-key", sshd.KeyFile(), "--known-hosts", sshd.KnownHostsFile())
			cmd.Env = cliEnv(b.TempDir())
			return cmd
		}},
		{"openssh", 21031, func(port uint16) *exec.Cmd {
			spec := fmt.Sprintf("0.0.0.0:%d:%s", port, lanAddr(lab, netlab.LAN1, port))
			return lab.Cmd(ctx, netlab.LAN1, "ssh", "-N", "-R", spec, "-i", sshd.KeyFile(),
				"-o", "UserKnownHostsFile="+sshd.KnownHostsFile(), "-o", "StrictHostKeyChecking=yes",
				"-o", "BatchMode=yes", "-p", fmt.Sprint(sshd.Addr().Port()), netlab.SSHUser+"@"+sshd.Addr().Addr().String())
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			sink := startSink(b, lab, netlab.LAN1, lanAddr(lab, netlab.LAN1, tc.port))
			defer sink.Close()
			cmd := tc.start(tc.port)
			setup := time.Now()
			if err := cmd.Start(); err != nil {
				b.Fatal(err)
			}
			defer func() {
				cmd.Process.Kill()
				cmd.Wait()
			}()
			addr := netip.AddrPortFrom(sshd.Addr().Addr(), tc.port)
			if err := waitTunnel(ctx, lab, addr); err != nil {
				b.Fatal(err)
			}
			setupTime := time.Since(setup)
			var conn []time.Duration
			for range sshBenchConns {
				start := time.Now()
				if _, err := throughTunnel(ctx, lab, addr, 0); err != nil {
					b.Fatal(err)
				}
				conn = append(conn, time.Since(start))
			}
			slices.Sort(conn)
			b.SetBytes(sshBenchBytes)
			b.ResetTimer()
			for range b.N {
				if n, err := throughTunnel(ctx, lab, addr, sshBenchBytes); err != nil || n != sshBenchBytes {
					b.Fatalf("sent %d of %d bytes: %v", n, sshBenchBytes, err)
				}
			}
			b.StopTimer()
			// After the loop: ResetTimer drops metrics reported before it.
			b.ReportMetric(float64(setupTime.Microseconds())/1000, "setup-ms")
			b.ReportMetric(float64(conn[len(conn)/2].Microseconds())/1000, "conn-ms")
		})
	}
}

// sinkAck is what the sink answers once it has read everything.
const sinkAck = "k"

// startSink listens on addr in node; each connection is read to its end,
// then answered with sinkAck and closed.
func startSink(b *testing.B, lab *netlab.Lab, node netlab.Node, addr string) net.Listener {
	ln, err := lab.Listen(node, addr)
	if err != nil {
		b.Fatal(err)
	}
	go serveSink(ln)
	return ln
}

func serveSink(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go drainAndAck(c)
	}
}

func drainAndAck(c net.Conn) {
	defer c.Close()
	io.Copy(io.Discard, c)
	io.WriteString(c, sinkAck)
}

// throughTunnel connects to addr from the router's WAN side, sends n bytes,
// half-closes and waits for the sink's answer. It returns the bytes sent.
func throughTunnel(ctx context.Context, lab *netlab.Lab, addr netip.AddrPort, n int64) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	c, err := lab.Dial(ctx, netlab.Router, "tcp4", addr.String())
	if err != nil {
		return 0, err
	}
	defer c.Close()
	deadline, _ := ctx.Deadline()
	c.SetDeadline(deadline)
	sent, err := io.CopyN(c, zeros{}, n)
	if err != nil {
		return sent, err
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		return sent, err
	}
	ack, err := io.ReadAll(c)
	if err != nil || string(ack) != sinkAck {
		return sent, fmt.Errorf("answer %q: %v", ack, err)
	}
	return sent, nil
}

// waitTunnel waits until a connection through addr gets the sink's answer.
func waitTunnel(ctx context.Context, lab *netlab.Lab, addr netip.AddrPort) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := throughTunnel(ctx, lab, addr, 0)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no tunnel at %v: %w", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// zeros is an endless source of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
