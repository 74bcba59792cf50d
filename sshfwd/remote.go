package sshfwd

import (
	"context"
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/ssh"
)

// The request and channel names of RFC 4254 section 7.1 and 7.2.
const (
	forwardRequest   = "tcpip-forward"
	cancelRequest    = "cancel-tcpip-forward"
	forwardedChannel = "forwarded-tcpip"
	directChannel    = "direct-tcpip"
)

// forwardMsg is the payload of tcpip-forward and cancel-tcpip-forward.
type forwardMsg struct {
	Addr string
	Port uint32
}

// forwardedMsg is the extra data of a forwarded-tcpip channel: the address
// and port that were connected to, and who connected.
type forwardedMsg struct {
	Addr       string
	Port       uint32
	OriginAddr string
	OriginPort uint32
}

// requestForward asks the server to listen on bind:port and returns the port
// it listens on (the one it chose when port is 0).
func requestForward(ctx context.Context, c *ssh.Client, bind string, port uint16) (uint16, error) {
	ok, data, err := request(ctx, c, forwardRequest, ssh.Marshal(&forwardMsg{bind, uint32(port)}))
	if err != nil {
		return 0, fmt.Errorf("ssh %s: %w", forwardRequest, err)
	}
	if !ok {
		return 0, refused(bind, port)
	}
	if port != 0 {
		return port, nil
	}
	return parseForwardReply(data)
}

// parseForwardReply reads the port the server chose from its reply to a
// tcpip-forward for port 0 (RFC 4254 section 7.1).
func parseForwardReply(data []byte) (uint16, error) {
	var got struct{ Port uint32 }
	if err := ssh.Unmarshal(data, &got); err != nil || got.Port == 0 || got.Port > 65535 {
		return 0, fmt.Errorf("ssh %s: the server chose no valid port (reply %x)", forwardRequest, safeHex(data))
	}
	return uint16(got.Port), nil
}

// maxReplyHex bounds how much of a malformed reply an error quotes.
const maxReplyHex = 32

// safeHex is data, cut to maxReplyHex bytes, for %x in an error.
func safeHex(data []byte) []byte {
	if len(data) > maxReplyHex {
		return data[:maxReplyHex]
	}
	return data
}

// cancelForward asks the server to stop listening. A connection that is
// already gone is no error: the server drops its forwards with it.
func cancelForward(ctx context.Context, c *ssh.Client, bind string, port uint16) error {
	ok, _, err := request(ctx, c, cancelRequest, ssh.Marshal(&forwardMsg{bind, uint32(port)}))
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("ssh %s: no answer: %w", cancelRequest, err)
		}
		return nil
	}
	if !ok {
		return fmt.Errorf("ssh %s: the server refused to cancel port %d", cancelRequest, port)
	}
	return nil
}

// parseForwarded reads a forwarded-tcpip channel's extra data.
func parseForwarded(data []byte) (forwardedMsg, error) {
	var m forwardedMsg
	if err := ssh.Unmarshal(data, &m); err != nil {
		return m, fmt.Errorf("forwarded-tcpip: %w", err)
	}
	if m.Port == 0 || m.Port > 65535 || m.OriginPort > 65535 {
		return m, fmt.Errorf("forwarded-tcpip: port out of range")
	}
	return m, nil
}

// acceptForwarded takes the connections the server forwards on c until c
// closes.
func (f *Forward) acceptForwarded(c *ssh.Client, chans <-chan ssh.NewChannel) {
	defer f.wg.Done()
	for nc := range chans {
		m, err := parseForwarded(nc.ExtraData())
		if err != nil {
			nc.Reject(ssh.ConnectionFailed, err.Error())
			continue
		}
		f.mu.Lock()
		port, probe := f.port, f.probe
		f.mu.Unlock()
		if m.Port != uint32(port) {
			// RFC 4254 7.2: connections for no forward we asked for are refused.
			nc.Reject(ssh.Prohibited, "no forward for this port")
			continue
		}
		f.wg.Add(1)
		if probe != nil {
			go f.sniff(nc, probe)
		} else {
			go f.serveForwarded(nc)
		}
	}
}

// serveForwarded connects to the target, and only then accepts the channel,
// as OpenSSH's client does: when the target is down the server is told
// "connect failed" at once, closes the outside connection, and the forward
// stays up.
func (f *Forward) serveForwarded(nc ssh.NewChannel) {
	defer f.wg.Done()
	ctx, cancel := context.WithTimeout(f.ctx, f.cfg.DialTimeout)
	conn, err := f.cfg.Dial(ctx, "tcp", f.target)
	cancel()
	if err != nil {
		f.cfg.Logger.Debug("ssh forward: target unreachable", "target", f.target, "err", err)
		nc.Reject(ssh.ConnectionFailed, "connect failed")
		return
	}
	ch, reqs, err := nc.Accept()
	if err != nil {
		conn.Close()
		return
	}
	f.wg.Add(1)
	go f.discard(reqs)
	f.relay(ch, conn)
}

// relay copies between a channel and a target connection until both
// directions end or Close.
func (f *Forward) relay(ch rwc, conn io.ReadWriteCloser) {
	if !f.relays.add(ch) {
		conn.Close()
		return
	}
	defer f.relays.remove(ch)
	if !f.relays.add(conn) {
		ch.Close()
		return
	}
	defer f.relays.remove(conn)
	pipe(ch, conn)
}

// relayToTarget dials the target for a forwarded connection accepted
// during a GatewayPorts check and copies both ways. prefix delivers the
// bytes sniff read from ch, which go to the target first.
func (f *Forward) relayToTarget(ch ssh.Channel, prefix <-chan []byte) {
	defer f.wg.Done()
	if !f.relays.add(ch) {
		return
	}
	defer f.relays.remove(ch)
	ctx, cancel := context.WithTimeout(f.ctx, f.cfg.DialTimeout)
	conn, err := f.cfg.Dial(ctx, "tcp", f.target)
	cancel()
	if err != nil {
		// As sshd does for a dead target: this connection fails, the forward stays.
		f.cfg.Logger.Debug("ssh forward: target unreachable", "target", f.target, "err", err)
		ch.Close()
		return
	}
	if !f.relays.add(conn) {
		ch.Close()
		return
	}
	defer f.relays.remove(conn)
	pipe(&prefixed{Channel: ch, first: prefix}, conn)
}

// rwc is what pipe needs of a channel.
type rwc interface {
	Read([]byte) (int, error)
	Write([]byte) (int, error)
	Close() error
}

// prefixed is a channel whose first bytes were read by sniff: Read returns
// them (once they have arrived) before reading on.
type prefixed struct {
	ssh.Channel
	first <-chan []byte
	buf   []byte
	got   bool
}

func (p *prefixed) Read(b []byte) (int, error) {
	if !p.got {
		p.buf, p.got = <-p.first, true
	}
	if len(p.buf) > 0 {
		n := copy(b, p.buf)
		p.buf = p.buf[n:]
		return n, nil
	}
	return p.Channel.Read(b)
}
