package sshfwd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// Forward is a port forwarded through an SSH server: a remote forward made by
// Remote or a local forward made by Local. It keeps the connection alive and
// reconnects until Close.
type Forward struct {
	cfg    Config
	target string // where each forwarded connection goes
	local  bool

	ctx    context.Context // ends at Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine the Forward started
	relays conns
	events chan Event

	mu     sync.Mutex
	client *ssh.Client   // current connection; nil while reconnecting
	ready  chan struct{} // closed when client is set
	addr   netip.AddrPort
	port   uint16 // remote port obtained
	probe  *probeState

	ln        net.Listener // local forward's listener
	closeOnce sync.Once
	closeErr  error
}

// Remote asks the server in cfg to listen on cfg.RemotePort (0: a port it
// chooses) and forwards each connection it receives to target ("host:port",
// dialed from this machine: a local or LAN service). It returns once the
// server listens and, unless cfg.SkipGatewayPortsCheck, once a connection
// from the server's own address has arrived through it (else
// ErrLoopbackOnly). The first connection is not retried: its error is
// returned (*HostKeyError, ErrAuth, ErrPassphrase, ErrForwardRefused, ...).
// Later drops are repaired in the background and reported on Events.
func Remote(ctx context.Context, cfg Config, target string) (*Forward, error) {
	if _, _, err := net.SplitHostPort(target); err != nil {
		return nil, fmt.Errorf("sshfwd: target %q: %w", target, err)
	}
	f := newForward(cfg, target)
	f.port = f.cfg.RemotePort
	c, err := f.connectRemote(ctx)
	if err != nil {
		f.cancel()
		return nil, err
	}
	if !f.cfg.SkipGatewayPortsCheck && !isLoopbackBind(f.cfg.BindAddress) {
		if err := f.checkGatewayPorts(ctx, c); err != nil {
			f.setClient(c) // so that Close cancels the forward on the server
			f.Close()
			return nil, err
		}
	}
	f.setClient(c)
	f.wg.Add(1)
	go f.maintain(c)
	return f, nil
}

func newForward(cfg Config, target string) *Forward {
	f := &Forward{cfg: cfg.withDefaults(), target: target, events: make(chan Event, eventBuffer)}
	f.ctx, f.cancel = context.WithCancel(context.Background())
	f.ready = make(chan struct{})
	return f
}

// Addr is where the forward can be reached: for a remote forward the
// server's address (as connected to) and the remote port; for a local
// forward the local listener's address.
func (f *Forward) Addr() netip.AddrPort {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.addr
}

// Events delivers Lost, Restored and Failed events. It is buffered; when the
// reader falls behind the oldest events are dropped. It is closed by Close.
func (f *Forward) Events() <-chan Event { return f.events }

// connectRemote connects and asks for the forward, on f.port.
func (f *Forward) connectRemote(ctx context.Context) (*ssh.Client, error) {
	c, err := f.connect(ctx)
	if err != nil {
		return nil, err
	}
	// The handler must exist before the request: the server may send a
	// connection as soon as it has replied.
	chans := c.HandleChannelOpen(forwardedChannel)
	f.wg.Add(1)
	go f.acceptForwarded(c, chans)
	rctx, cancel := context.WithTimeout(ctx, f.cfg.DialTimeout)
	defer cancel()
	port, err := requestForward(rctx, c, f.cfg.BindAddress, f.port)
	if err != nil {
		c.Close()
		return nil, err
	}
	tcp, _ := c.RemoteAddr().(*net.TCPAddr)
	var ip netip.Addr
	if tcp != nil {
		ip, _ = netip.AddrFromSlice(tcp.IP)
	}
	f.mu.Lock()
	f.port = port
	f.addr = netip.AddrPortFrom(ip.Unmap(), port)
	f.mu.Unlock()
	f.cfg.Logger.Debug("ssh remote forward up", "server", f.cfg.Server.String(), "addr", f.addr, "target", f.target)
	return c, nil
}

// setClient makes c the current connection.
func (f *Forward) setClient(c *ssh.Client) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.client = c
	if c != nil {
		select {
		case <-f.ready:
		default:
			close(f.ready)
		}
	} else {
		select {
		case <-f.ready:
			f.ready = make(chan struct{})
		default:
		}
	}
}

// current waits up to ctx for a connection.
func (f *Forward) current(ctx context.Context) (*ssh.Client, error) {
	for {
		f.mu.Lock()
		c, ready := f.client, f.ready
		f.mu.Unlock()
		if c != nil {
			return c, nil
		}
		select {
		case <-ready:
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		case <-f.ctx.Done():
			return nil, ErrClosed
		}
	}
}

// maintain watches the connection c and replaces it when it drops, until
// Close.
func (f *Forward) maintain(c *ssh.Client) {
	defer f.wg.Done()
	for {
		cause := f.watch(c)
		f.setClient(nil)
		if f.ctx.Err() != nil {
			return
		}
		f.emit(Lost, fmt.Errorf("ssh connection to %s lost: %w", f.cfg.Server, cause))
		c = f.reconnect()
		if c == nil {
			return
		}
		f.setClient(c)
		f.emit(Restored, nil)
	}
}

// watch runs keepalives on c until it closes, and says why it did.
func (f *Forward) watch(c *ssh.Client) error {
	ctx, cancel := context.WithCancel(f.ctx)
	kaErr := make(chan error, 1)
	if f.cfg.KeepaliveInterval > 0 {
		f.wg.Add(1)
		go f.runKeepalive(ctx, c, kaErr)
	} else {
		kaErr <- nil
	}
	stop := context.AfterFunc(f.ctx, func() { c.Close() })
	err := c.Wait()
	stop()
	cancel()
	if ke := <-kaErr; ke != nil {
		return ke
	}
	if err == nil {
		err = errors.New("the server closed the connection")
	}
	return err
}

// runKeepalive runs keepalive on c and reports why it stopped.
func (f *Forward) runKeepalive(ctx context.Context, c *ssh.Client, out chan<- error) {
	defer f.wg.Done()
	out <- keepalive(ctx, &f.wg, c, f.cfg.KeepaliveInterval, f.cfg.KeepaliveCountMax)
}

// reconnect tries until it has a connection with the forward back on the same
// port, or Close; nil after Close.
func (f *Forward) reconnect() *ssh.Client {
	for n := 0; ; n++ {
		t := time.NewTimer(backoff(n, f.cfg.BackoffMin, f.cfg.BackoffMax))
		select {
		case <-f.ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		var c *ssh.Client
		var err error
		if f.local {
			c, err = f.connect(f.ctx)
		} else {
			c, err = f.connectRemote(f.ctx)
		}
		if err == nil {
			return c
		}
		if f.ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, ErrForwardRefused) {
			err = fmt.Errorf("%w (the server keeps it until it times the old session out; set ClientAliveInterval in its sshd_config): %w", ErrPortHeld, err)
		}
		f.emit(Failed, err)
	}
}

// Close cancels the forward on the server (cancel-tcpip-forward), closes the
// connection, every relayed connection and the local listener, and waits
// for the Forward's goroutines, all within CloseTimeout. Events is closed.
func (f *Forward) Close() error {
	f.closeOnce.Do(func() { f.closeErr = f.close() })
	return f.closeErr
}

func (f *Forward) close() error {
	deadline := time.Now().Add(f.cfg.CloseTimeout)
	f.mu.Lock()
	c, port, ln := f.client, f.port, f.ln
	f.mu.Unlock()
	var err error
	if c != nil && !f.local {
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		err = cancelForward(ctx, c, f.cfg.BindAddress, port)
		cancel()
	}
	f.cancel()
	if c != nil {
		c.Close()
	}
	if ln != nil {
		ln.Close()
	}
	f.relays.closeAll()
	done := make(chan struct{})
	go waitGroup(&f.wg, done)
	select {
	case <-done:
		close(f.events)
	case <-time.After(time.Until(deadline)):
		return errors.Join(err, errors.New("sshfwd: close timed out waiting for relays"))
	}
	return err
}

// waitGroup closes done when wg's count reaches zero.
func waitGroup(wg *sync.WaitGroup, done chan<- struct{}) {
	wg.Wait()
	close(done)
}

// discard answers no to every request on a channel (x/crypto's
// DiscardRequests), counted among the Forward's goroutines.
func (f *Forward) discard(reqs <-chan *ssh.Request) {
	defer f.wg.Done()
	ssh.DiscardRequests(reqs)
}
