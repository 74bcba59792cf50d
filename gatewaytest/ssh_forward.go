package gatewaytest

// The fake SSH server's forwarding: tcpip-forward, cancel-tcpip-forward,
// forwarded-tcpip and direct-tcpip (RFC 4254 section 7).

import (
	"io"
	"net"
	"net/netip"
	"strconv"

	"golang.org/x/crypto/ssh"
)

// sshForwardMsg is the payload of tcpip-forward and cancel-tcpip-forward.
type sshForwardMsg struct {
	Addr string
	Port uint32
}

// sshForwardedMsg is a forwarded-tcpip channel's extra data.
type sshForwardedMsg struct {
	Addr       string
	Port       uint32
	OriginAddr string
	OriginPort uint32
}

func (s *SSHServer) serveRequests(ss *sshSession, reqs <-chan *ssh.Request) {
	defer s.wg.Done()
	for r := range reqs {
		s.mu.Lock()
		s.requests[r.Type]++
		cfg := s.cfg
		s.mu.Unlock()
		ss.mu.Lock()
		frozen := ss.frozen
		ss.mu.Unlock()
		if frozen {
			continue
		}
		switch r.Type {
		case "tcpip-forward":
			var m sshForwardMsg
			if ssh.Unmarshal(r.Payload, &m) != nil || m.Port > 65535 || cfg.RefuseForwards {
				r.Reply(false, nil)
				continue
			}
			port, ok := s.listenForward(ss, m, cfg.LoopbackOnly)
			if !ok {
				r.Reply(false, nil)
				continue
			}
			var reply []byte
			if m.Port == 0 {
				reply = ssh.Marshal(&struct{ Port uint32 }{uint32(port)})
			}
			r.Reply(true, reply)
		case "cancel-tcpip-forward":
			var m sshForwardMsg
			if ssh.Unmarshal(r.Payload, &m) != nil {
				r.Reply(false, nil)
				continue
			}
			key := net.JoinHostPort(m.Addr, strconv.Itoa(int(m.Port)))
			ss.mu.Lock()
			ln, ok := ss.forwards[key]
			delete(ss.forwards, key)
			ss.mu.Unlock()
			if ok {
				ln.Close()
			}
			r.Reply(ok, nil)
		default:
			// sshd answers failure to requests it does not know, including
			// keepalive@openssh.com; any answer proves it is alive.
			if r.WantReply {
				r.Reply(false, nil)
			}
		}
	}
}

// listenForward binds the forward's listener and serves it.
func (s *SSHServer) listenForward(ss *sshSession, m sshForwardMsg, loopbackOnly bool) (uint16, bool) {
	ip := s.addr.Addr()
	switch {
	case loopbackOnly || m.Addr == "localhost":
		ip = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	case m.Addr == "" || m.Addr == "0.0.0.0" || m.Addr == "*":
	default:
		a, err := netip.ParseAddr(m.Addr)
		if err != nil || !a.IsLoopback() {
			return 0, false // a fake server binds nothing but loopback
		}
		ip = a
	}
	ln, err := net.Listen("tcp4", netip.AddrPortFrom(ip, uint16(m.Port)).String())
	if err != nil {
		return 0, false
	}
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	key := net.JoinHostPort(m.Addr, strconv.Itoa(int(port)))
	ss.mu.Lock()
	ss.forwards[key] = ln
	ss.mu.Unlock()
	s.wg.Add(1)
	go s.serveForward(ss, ln, m.Addr, port)
	return port, true
}

// serveForward hands each connection on a forward's listener to the client
// as a forwarded-tcpip channel.
func (s *SSHServer) serveForward(ss *sshSession, ln net.Listener, bind string, port uint16) {
	defer s.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		origin := c.RemoteAddr().(*net.TCPAddr)
		extra := ssh.Marshal(&sshForwardedMsg{bind, uint32(port), origin.IP.String(), uint32(origin.Port)})
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			ch, reqs, err := ss.conn.OpenChannel("forwarded-tcpip", extra)
			if err != nil {
				c.Close()
				return
			}
			go ssh.DiscardRequests(reqs)
			if !ss.track(c) {
				ch.Close()
				return
			}
			defer ss.untrack(c)
			sshPipe(ch, c)
		}()
	}
}

// sshDirectMsg is a direct-tcpip channel's extra data.
type sshDirectMsg struct {
	Host       string
	Port       uint32
	OriginAddr string
	OriginPort uint32
}

func (s *SSHServer) serveChannels(ss *sshSession, chans <-chan ssh.NewChannel) {
	defer s.wg.Done()
	for nc := range chans {
		s.mu.Lock()
		s.channels[nc.ChannelType()]++
		s.mu.Unlock()
		if nc.ChannelType() != "direct-tcpip" {
			nc.Reject(ssh.UnknownChannelType, "only direct-tcpip")
			continue
		}
		var m sshDirectMsg
		if ssh.Unmarshal(nc.ExtraData(), &m) != nil || m.Port > 65535 {
			nc.Reject(ssh.ConnectionFailed, "bad direct-tcpip")
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			c, err := net.DialTimeout("tcp", net.JoinHostPort(m.Host, strconv.Itoa(int(m.Port))), sshDialTimeout)
			if err != nil {
				nc.Reject(ssh.ConnectionFailed, "connect failed")
				return
			}
			ch, reqs, err := nc.Accept()
			if err != nil {
				c.Close()
				return
			}
			go ssh.DiscardRequests(reqs)
			if !ss.track(c) {
				ch.Close()
				return
			}
			defer ss.untrack(c)
			sshPipe(ch, c)
		}()
	}
}

// sshPipe copies both ways between a channel and a TCP connection, passing
// on half-closes, and closes both at the end.
func sshPipe(ch ssh.Channel, c net.Conn) {
	done := make(chan struct{}, 2)
	go func() {
		io.Copy(ch, c)
		ch.CloseWrite()
		done <- struct{}{}
	}()
	go func() {
		io.Copy(c, ch)
		if tc, ok := c.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
		done <- struct{}{}
	}()
	<-done
	<-done
	ch.Close()
	c.Close()
}
