//go:build linux

package netlab

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"
)

// netnsDir is where iproute2 keeps named network namespaces.
const netnsDir = "/run/netns"

// doInNetns runs fn on a thread that has entered the named network namespace.
// A socket keeps the namespace it was created in, so fn may open sockets and
// hand them back; they stay usable from any goroutine afterwards.
//
// fn must do its work on the calling goroutine: a goroutine it starts runs on
// another thread, in the caller's namespace, and whatever it creates would not
// be in the lab. That is why the helpers below accept numeric addresses only (a
// name lookup may start goroutines).
func doInNetns(ns string, fn func() error) error {
	errc := make(chan error, 1)
	go runInNetns(filepath.Join(netnsDir, ns), fn, errc)
	return <-errc
}

// runInNetns is the goroutine behind doInNetns. It locks its thread, enters
// the namespace, runs fn and moves the thread back. Only if the way back
// succeeded is the thread unlocked; otherwise it stays locked, so the runtime
// discards it when the goroutine ends (or, for the main thread, parks it)
// instead of running other code in the lab's namespace.
func runInNetns(path string, fn func() error, errc chan<- error) {
	runtime.LockOSThread()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		errc <- fmt.Errorf("netlab: open own namespace: %w", err)
		return
	}
	defer orig.Close()
	target, err := os.Open(path)
	if err != nil {
		runtime.UnlockOSThread()
		errc <- fmt.Errorf("netlab: open namespace: %w", err)
		return
	}
	err = unix.Setns(int(target.Fd()), unix.CLONE_NEWNET)
	target.Close()
	if err != nil {
		runtime.UnlockOSThread()
		errc <- fmt.Errorf("netlab: enter namespace %s: %w", path, err)
		return
	}
	err = fn()
	if unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET) == nil {
		runtime.UnlockOSThread()
	}
	errc <- err
}

// numericAddrPort refuses host names, so that no resolver runs (possibly on
// other threads, outside the lab) on behalf of a lab socket.
func numericAddrPort(address string) (netip.AddrPort, error) {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return ap, fmt.Errorf("netlab: want a numeric IP:port, got %q: %w", address, err)
	}
	return ap, nil
}

// family picks "tcp4"/"udp4" for IPv4 addresses. With plain "udp", Go opens
// 0.0.0.0 as a dual-stack IPv6 socket, and Linux does not deliver IPv4
// multicast (the NAT-PMP announcements to 224.0.0.1) to that.
func family(network string, ap netip.AddrPort) string {
	if ap.Addr().Unmap().Is4() {
		return network + "4"
	}
	return network + "6"
}

// Listen opens a TCP listener inside node's namespace. address must be a
// numeric "IP:port" (port 0 picks one).
func (l *Lab) Listen(node Node, address string) (net.Listener, error) {
	ap, err := numericAddrPort(address)
	if err != nil {
		return nil, err
	}
	var ln net.Listener
	err = l.Do(node, func() error {
		var err error
		ln, err = net.ListenTCP(family("tcp", ap), net.TCPAddrFromAddrPort(ap))
		return err
	})
	return ln, err
}

// ListenUDP opens a UDP socket inside node's namespace. address must be a
// numeric "IP:port".
func (l *Lab) ListenUDP(node Node, address string) (*net.UDPConn, error) {
	ap, err := numericAddrPort(address)
	if err != nil {
		return nil, err
	}
	return l.listenUDP(node, ap)
}

func (l *Lab) listenUDP(node Node, ap netip.AddrPort) (*net.UDPConn, error) {
	var c *net.UDPConn
	err := l.Do(node, func() error {
		var err error
		c, err = net.ListenUDP(family("udp", ap), net.UDPAddrFromAddrPort(ap))
		return err
	})
	return c, err
}

// Dial connects from node's namespace. network is "tcp", "tcp4", "tcp6",
// "udp", "udp4" or "udp6" (the IPv6 ones need Options.IPv6); address must
// be a numeric "IP:port" ("[2001:db8:77::10]:8080").
func (l *Lab) Dial(ctx context.Context, node Node, network, address string) (net.Conn, error) {
	if _, err := numericAddrPort(address); err != nil {
		return nil, err
	}
	var c net.Conn
	err := l.Do(node, func() error {
		var d net.Dialer
		var err error
		c, err = d.DialContext(ctx, network, address)
		return err
	})
	return c, err
}

// Do runs fn on a thread inside node's network namespace and returns its
// error. Sockets fn opens belong to the lab and may be used from anywhere
// afterwards. fn must not start goroutines that open sockets, and must not
// resolve names (see Listen); code with its own goroutines, such as a client
// library, belongs in a process started with Cmd.
func (l *Lab) Do(node Node, fn func() error) error {
	ns, err := l.netns(node)
	if err != nil {
		return err
	}
	return doInNetns(ns, fn)
}
