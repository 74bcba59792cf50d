package gatewaytest_test

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/upnpmap/upnpmap/gatewaytest"
)

// sshWait bounds each wait in these tests.
const sshWait = 20 * time.Second

// sshClient logs in to srv with key, trusting exactly srv's current host key.
func sshClient(t *testing.T, srv *gatewaytest.SSHServer, key ssh.Signer) (*ssh.Client, error) {
	t.Helper()
	c, err := ssh.Dial("tcp", srv.Addr().String(), &ssh.ClientConfig{
		User:            "tester",
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(key)},
		HostKeyCallback: ssh.FixedHostKey(srv.HostKey()),
		Timeout:         sshWait,
	})
	if err == nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

func forwardReq(bind string, port uint32) []byte {
	return ssh.Marshal(&struct {
		Addr string
		Port uint32
	}{bind, port})
}

// requestPort asks for a forward and returns the port the server reports.
func requestPort(t *testing.T, c *ssh.Client, bind string) (uint16, bool) {
	t.Helper()
	ok, data, err := c.SendRequest("tcpip-forward", true, forwardReq(bind, 0))
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		return 0, false
	}
	var p struct{ Port uint32 }
	if err := ssh.Unmarshal(data, &p); err != nil || p.Port == 0 {
		t.Fatalf("reply %x carries no port: %v", data, err)
	}
	return uint16(p.Port), true
}

func TestSSHServerForwardsToTheClient(t *testing.T) {
	key := gatewaytest.NewSSHKey(t)
	srv := gatewaytest.NewSSH(t, gatewaytest.SSHConfig{AuthorizedKeys: []ssh.PublicKey{key.PublicKey()}})
	c, err := sshClient(t, srv, key)
	if err != nil {
		t.Fatal(err)
	}
	chans := c.HandleChannelOpen("forwarded-tcpip")
	port, ok := requestPort(t, c, "")
	if !ok {
		t.Fatal("forward refused")
	}
	want := netip.AddrPortFrom(srv.Addr().Addr(), port)
	if got := srv.Forwards(); len(got) != 1 || got[0] != want {
		t.Fatalf("Forwards() = %v, want [%v]", got, want)
	}
	conn, err := net.DialTimeout("tcp", want.String(), sshWait)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var nc ssh.NewChannel
	select {
	case nc = <-chans:
	case <-time.After(sshWait):
		t.Fatal("no forwarded-tcpip channel")
	}
	var m struct {
		Addr       string
		Port       uint32
		OriginAddr string
		OriginPort uint32
	}
	if err := ssh.Unmarshal(nc.ExtraData(), &m); err != nil || m.Port != uint32(port) {
		t.Fatalf("channel data %+v, %v; want port %d", m, err, port)
	}
	if local := conn.LocalAddr().(*net.TCPAddr); m.OriginAddr != local.IP.String() || m.OriginPort != uint32(local.Port) {
		t.Errorf("origin %s:%d, want the connecting socket %v", m.OriginAddr, m.OriginPort, local)
	}
	ch, reqs, err := nc.Accept()
	if err != nil {
		t.Fatal(err)
	}
	go ssh.DiscardRequests(reqs)
	io.WriteString(conn, "ping")
	conn.(*net.TCPConn).CloseWrite()
	got, _ := io.ReadAll(ch)
	io.WriteString(ch, "pong")
	ch.CloseWrite()
	back, _ := io.ReadAll(conn)
	if string(got) != "ping" || string(back) != "pong" {
		t.Fatalf("channel got %q, connection got %q", got, back)
	}
	// cancel-tcpip-forward removes the listener.
	ok, _, err = c.SendRequest("cancel-tcpip-forward", true, forwardReq("", uint32(port)))
	if err != nil || !ok {
		t.Fatalf("cancel: %v, %v", ok, err)
	}
	if got := srv.Forwards(); len(got) != 0 {
		t.Fatalf("still listening on %v after cancel", got)
	}
	if _, err := net.DialTimeout("tcp", want.String(), sshWait); err == nil {
		t.Fatal("port still open after cancel")
	}
}

func TestSSHServerKnobs(t *testing.T) {
	key := gatewaytest.NewSSHKey(t)
	srv := gatewaytest.NewSSH(t, gatewaytest.SSHConfig{AuthorizedKeys: []ssh.PublicKey{key.PublicKey()}, LoopbackOnly: true})
	c, err := sshClient(t, srv, key)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := requestPort(t, c, "0.0.0.0"); !ok {
		t.Fatal("loopback-only forward refused; sshd replies success")
	}
	if got := srv.Forwards(); len(got) != 1 || got[0].Addr() != netip.MustParseAddr("127.0.0.1") {
		t.Fatalf("LoopbackOnly forward listens on %v, want 127.0.0.1", got)
	}
	srv.SetRefuseForwards(true)
	if _, ok := requestPort(t, c, ""); ok {
		t.Fatal("RefuseForwards: forward granted")
	}
	if n := srv.DropConnections(); n != 1 {
		t.Fatalf("DropConnections ended %d connections, want 1", n)
	}
	c.Wait() // returns once the server has closed the connection
	deadline := time.Now().Add(sshWait)
	for len(srv.Forwards()) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("forwards %v outlive their dropped connection", srv.Forwards())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestSSHServerChecksKeys(t *testing.T) {
	key := gatewaytest.NewSSHKey(t)
	srv := gatewaytest.NewSSH(t, gatewaytest.SSHConfig{AuthorizedKeys: []ssh.PublicKey{key.PublicKey()}})
	if _, err := sshClient(t, srv, gatewaytest.NewSSHKey(t)); err == nil || !strings.Contains(err.Error(), "unable to authenticate") {
		t.Fatalf("unknown client key: err = %v, want an authentication failure", err)
	}
	old := srv.HostKey()
	line := srv.KnownHostsLine()
	if !strings.HasPrefix(line, "["+srv.Addr().Addr().String()+"]:"+strconv.Itoa(int(srv.Addr().Port()))+" ssh-ed25519 ") {
		t.Errorf("KnownHostsLine() = %q", line)
	}
	if err := srv.ChangeHostKey(); err != nil {
		t.Fatal(err)
	}
	_, err := ssh.Dial("tcp", srv.Addr().String(), &ssh.ClientConfig{
		User: "tester", Auth: []ssh.AuthMethod{ssh.PublicKeys(key)},
		HostKeyCallback: ssh.FixedHostKey(old), Timeout: sshWait,
	})
	if err == nil || errors.Is(err, io.EOF) {
		t.Fatalf("old host key still accepted after ChangeHostKey: %v", err)
	}
}

func TestSSHServerDirectTCPIP(t *testing.T) {
	key := gatewaytest.NewSSHKey(t)
	srv := gatewaytest.NewSSH(t, gatewaytest.SSHConfig{AuthorizedKeys: []ssh.PublicKey{key.PublicKey()}})
	c, err := sshClient(t, srv, key)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		s, err := ln.Accept()
		if err == nil {
			io.WriteString(s, "hello from the target")
			s.Close()
		}
	}()
	conn, err := c.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(conn)
	conn.Close()
	if string(got) != "hello from the target" {
		t.Fatalf("read %q through direct-tcpip", got)
	}
	ln.Close()
	_, err = c.Dial("tcp", ln.Addr().String())
	var oe *ssh.OpenChannelError
	if !errors.As(err, &oe) || oe.Reason != ssh.ConnectionFailed {
		t.Fatalf("dial to a closed port: %v, want a ConnectionFailed rejection", err)
	}
	if n := srv.Channels("direct-tcpip"); n != 2 {
		t.Errorf("Channels(direct-tcpip) = %d, want 2", n)
	}
}
