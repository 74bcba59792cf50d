package upnpmap

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/upnpmap/upnpmap/gatewaytest"
	"github.com/upnpmap/upnpmap/sshfwd"
)

// sshTestWait bounds each wait in the SSH tests; two busy cores are slow,
// never this slow.
const sshTestWait = 20 * time.Second

// sshServer starts the fake SSH server and returns it with a Config that
// trusts its host key and never reads ~/.ssh or the agent.
func sshServer(t *testing.T, sc gatewaytest.SSHConfig) (*gatewaytest.SSHServer, *sshfwd.Config) {
	t.Helper()
	key := gatewaytest.NewSSHKey(t)
	sc.AuthorizedKeys = append(sc.AuthorizedKeys, key.PublicKey())
	srv := gatewaytest.NewSSH(t, sc)
	dir := t.TempDir()
	kh := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(kh, []byte(srv.KnownHostsLine()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tgt, err := sshfwd.ParseTarget("ssh://tester@" + srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return srv, &sshfwd.Config{
		Server: tgt, Signers: []ssh.Signer{key}, NoAgent: true, HomeDir: dir,
		KnownHosts: []string{kh}, BackoffMin: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond,
	}
}

// greeter is a local service that writes hello to each connection; it
// returns its port.
func greeter(t *testing.T) uint16 {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("hello"))
			c.Close()
		}
	}()
	return uint16(ln.Addr().(*net.TCPAddr).Port)
}

// readThrough connects to addr and returns what the service says.
func readThrough(t *testing.T, addr netip.AddrPort) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr.String(), sshTestWait)
	if err != nil {
		t.Fatalf("dial %v: %v", addr, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(sshTestWait))
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read through %v: %v", addr, err)
	}
	return string(b)
}

func TestMapViaSSHDirectly(t *testing.T) {
	srv, cfg := sshServer(t, gatewaytest.SSHConfig{})
	port := greeter(t)
	c := &Client{SSH: cfg, Methods: []Method{SSH}}
	ctx, cancel := context.WithTimeout(context.Background(), sshTestWait)
	defer cancel()
	m, err := c.Map(ctx, Request{InternalPort: port, ExternalPort: port})
	if err != nil {
		t.Fatal(err)
	}
	if m.Method() != SSH {
		t.Errorf("Method = %q, want ssh", m.Method())
	}
	want := netip.AddrPortFrom(srv.Addr().Addr(), port)
	if m.External() != want {
		t.Errorf("External = %v, want the server's address and the asked port %v", m.External(), want)
	}
	if got := readThrough(t, m.External()); got != "hello" {
		t.Errorf("through the tunnel: %q, want hello", got)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if f := srv.Forwards(); len(f) != 0 {
		t.Errorf("after Close the server still forwards %v", f)
	}
	if _, ok := <-m.Events(); ok {
		t.Error("Events still open after Close")
	}
	if _, err := net.DialTimeout("tcp", want.String(), time.Second); err == nil {
		t.Errorf("%v still accepts connections after Close", want)
	}
}

func TestMapFallsBackToSSHWhenTheRouterRefuses(t *testing.T) {
	gw, c := testGateway(t, gatewaytest.Config{MaxMappings: 1})
	gw.AddMapping(gatewaytest.Mapping{ExternalPort: 1, InternalPort: 1}) // the table is full
	srv, cfg := sshServer(t, gatewaytest.SSHConfig{})
	c.SSH = cfg
	port := greeter(t)
	ctx, cancel := context.WithTimeout(context.Background(), sshTestWait)
	defer cancel()
	m, err := c.Map(ctx, Request{InternalPort: port, Family: IPv4})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Method() != SSH || m.External().Addr() != srv.Addr().Addr() {
		t.Fatalf("mapped %v via %s, want the ssh server's address via ssh", m.External(), m.Method())
	}
	if got := readThrough(t, m.External()); got != "hello" {
		t.Errorf("through the tunnel: %q, want hello", got)
	}
}

func TestMapFallsBackToSSHBehindCGNAT(t *testing.T) {
	gw, c := testGateway(t, gatewaytest.Config{ExternalAddr: netip.MustParseAddr("100.64.3.4")}, PCP, SSH)
	srv, cfg := sshServer(t, gatewaytest.SSHConfig{})
	c.SSH = cfg
	port := greeter(t)
	ctx, cancel := context.WithTimeout(context.Background(), sshTestWait)
	defer cancel()
	m, err := c.Map(ctx, Request{InternalPort: port, Family: IPv4})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Method() != SSH || m.External().Addr() != srv.Addr().Addr() {
		t.Fatalf("mapped %v via %s, want the ssh server's address via ssh", m.External(), m.Method())
	}
	if n := len(gw.Mappings()); n != 0 {
		t.Errorf("the unreachable router mapping was left behind: %d entries", n)
	}
}

func TestMapKeepsAPublicRouterMappingOverSSH(t *testing.T) {
	_, c := testGateway(t, gatewaytest.Config{}, PCP)
	srv, cfg := sshServer(t, gatewaytest.SSHConfig{})
	c.SSH = cfg
	c.Methods = []Method{PCP, SSH}
	ctx, cancel := context.WithTimeout(context.Background(), sshTestWait)
	defer cancel()
	m, err := c.Map(ctx, Request{InternalPort: 4321, Family: IPv4})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Method() != PCP {
		t.Errorf("Method = %s, want pcp (the router's public mapping)", m.Method())
	}
	if n := srv.Sessions(); n != 0 {
		t.Errorf("the ssh server was contacted (%d sessions) though the router mapped", n)
	}
}

func TestMapViaSSHReportsLostAndRestored(t *testing.T) {
	srv, cfg := sshServer(t, gatewaytest.SSHConfig{})
	port := greeter(t)
	c := &Client{SSH: cfg, Methods: []Method{SSH}}
	ctx, cancel := context.WithTimeout(context.Background(), sshTestWait)
	defer cancel()
	m, err := c.Map(ctx, Request{InternalPort: port})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ext := m.External()
	if n := srv.DropConnections(); n != 1 {
		t.Fatalf("dropped %d connections, want 1", n)
	}
	var kinds []EventKind
	timeout := time.After(sshTestWait)
	for len(kinds) == 0 || kinds[len(kinds)-1] != Restored {
		select {
		case ev := <-m.Events():
			kinds = append(kinds, ev.Kind)
			if ev.Kind == Restored && ev.External != ext {
				t.Errorf("restored at %v, want the same %v", ev.External, ext)
			}
		case <-timeout:
			t.Fatalf("no Restored event; got %v", kinds)
		}
	}
	if kinds[0] != Lost {
		t.Errorf("events %v, want Lost first", kinds)
	}
	if got := readThrough(t, m.External()); got != "hello" {
		t.Errorf("through the restored tunnel: %q, want hello", got)
	}
}

func TestMapViaSSHLoopbackOnlyIsAClearError(t *testing.T) {
	srv, cfg := sshServer(t, gatewaytest.SSHConfig{LoopbackOnly: true})
	c := &Client{SSH: cfg, Methods: []Method{SSH}}
	ctx, cancel := context.WithTimeout(context.Background(), sshTestWait)
	defer cancel()
	_, err := c.Map(ctx, Request{InternalPort: greeter(t)})
	if !errors.Is(err, ErrLoopbackOnly) {
		t.Fatalf("err = %v, want ErrLoopbackOnly", err)
	}
	if f := srv.Forwards(); len(f) != 0 {
		t.Errorf("the failed forward was left on the server: %v", f)
	}
}

func TestMapViaSSHRejectsUDP(t *testing.T) {
	srv, cfg := sshServer(t, gatewaytest.SSHConfig{})
	c := &Client{SSH: cfg, Methods: []Method{SSH}}
	_, err := c.Map(context.Background(), Request{Protocol: UDP, InternalPort: 53})
	if !errors.Is(err, ErrUnsupported) {
		t.Fatalf("err = %v, want ErrUnsupported", err)
	}
	if n := srv.Requests("tcpip-forward"); n != 0 {
		t.Errorf("%d forwards asked for a UDP request", n)
	}
}

func TestSSHMethodNeedsAServer(t *testing.T) {
	c := &Client{Gateway: netip.MustParseAddr("127.0.0.1"), Methods: []Method{PCP, SSH}}
	if _, err := c.Map(context.Background(), Request{InternalPort: 80, Family: IPv4}); !errors.Is(err, ErrInvalidArgs) {
		t.Fatalf("err = %v, want ErrInvalidArgs", err)
	}
}

func TestMapFallsBackToSSHWhenNoGatewayAnswers(t *testing.T) {
	_, c := testGateway(t, gatewaytest.Config{DisablePCP: true, DisableNATPMP: true, DisableUPnP: true})
	srv, cfg := sshServer(t, gatewaytest.SSHConfig{})
	c.SSH = cfg
	port := greeter(t)
	ctx, cancel := context.WithTimeout(context.Background(), sshTestWait)
	defer cancel()
	m, err := c.Map(ctx, Request{InternalPort: port}) // both families, the default
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Method() != SSH || m.External().Addr() != srv.Addr().Addr() {
		t.Fatalf("mapped %v via %s, want the ssh server's address via ssh", m.External(), m.Method())
	}
	if got := readThrough(t, m.External()); got != "hello" {
		t.Errorf("through the tunnel: %q, want hello", got)
	}
}

// TestMapDoubleNATAndSSH: behind a double NAT, a mapping chained through
// both routers reaches the Internet and is kept, without asking the SSH
// server; when the upstream router does not map (the double NAT cannot be
// chained), the inner mapping, reachable only from the middle network, is
// deleted and the port is forwarded through the SSH server instead.
func TestMapDoubleNATAndSSH(t *testing.T) {
	t.Run("chained", func(t *testing.T) {
		in, out, c := doubleNAT(t, gatewaytest.Config{}, gatewaytest.Config{}, PCP, PCP)
		srv, cfg := sshServer(t, gatewaytest.SSHConfig{})
		c.SSH, c.Methods = cfg, []Method{PCP, SSH}
		ctx, cancel := context.WithTimeout(context.Background(), sshTestWait)
		defer cancel()
		m, err := c.Map(ctx, Request{InternalPort: greeter(t), Family: IPv4})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		if m.Method() != PCP || len(m.Legs()) != 2 || notPublic(m.External().Addr()) {
			t.Fatalf("mapped %v via %s with %d legs (upstream err %v), want the chained router mapping",
				m.External(), m.Method(), len(m.Legs()), m.UpstreamErr())
		}
		if n := srv.Sessions() + srv.Requests("tcpip-forward"); n != 0 {
			t.Errorf("the ssh server was used although the chain reaches the Internet")
		}
		if len(in.Mappings()) != 1 || len(out.Mappings()) != 1 {
			t.Errorf("router tables: inner %v, upstream %v; want one entry each", in.Mappings(), out.Mappings())
		}
	})
	t.Run("cannot be chained", func(t *testing.T) {
		in, out, c := doubleNAT(t, gatewaytest.Config{}, gatewaytest.Config{}, PCP, PCP)
		out.SetSilent(gatewaytest.PCP, true)
		srv, cfg := sshServer(t, gatewaytest.SSHConfig{})
		c.SSH, c.Methods = cfg, []Method{PCP, SSH}
		ctx, cancel := context.WithTimeout(context.Background(), sshTestWait)
		defer cancel()
		m, err := c.Map(ctx, Request{InternalPort: greeter(t), Family: IPv4})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		if m.Method() != SSH || m.External().Addr() != srv.Addr().Addr() {
			t.Fatalf("mapped %v via %s, want the ssh server's address via ssh", m.External(), m.Method())
		}
		if got := readThrough(t, m.External()); got != "hello" {
			t.Errorf("through the tunnel: %q, want hello", got)
		}
		if n := len(in.Mappings()); n != 0 {
			t.Errorf("the inner mapping, unreachable from outside, was left behind: %v", in.Mappings())
		}
		if n := len(out.Mappings()); n != 0 {
			t.Errorf("the upstream router holds %v", out.Mappings())
		}
	})
}
