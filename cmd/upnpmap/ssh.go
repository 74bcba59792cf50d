package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"github.com/upnpmap/upnpmap/sshfwd"
)

// sshOptions are the flags that name an SSH server to forward through
// (--via). The key flag cannot be -i as in ssh: -i is --interface.
type sshOptions struct {
	via        string // ssh://user@host[:port]
	key        string // --ssh-key FILE
	knownHosts string // --known-hosts FILE
	target     sshfwd.Target
}

// sshFlags are the flags of add, run, delete and relay that name an SSH
// server.
func sshFlags(fs *pflag.FlagSet, o *options) {
	fs.StringVar(&o.ssh.via, "via", "",
		"forward through the SSH server `URL` (ssh://user@host[:port]) when no router gives a port reachable from outside (--method ssh: always)")
	fs.StringVar(&o.ssh.key, "ssh-key", "", "private key `FILE` for --via (default: ssh-agent, then ~/.ssh/id_ed25519, id_ecdsa, id_rsa)")
	fs.StringVar(&o.ssh.knownHosts, "known-hosts", "", "known_hosts `FILE` that must hold --via's host key (default: ~/.ssh/known_hosts)")
}

// viaTimeout is the time one mapping may take beyond --timeout when --via
// names an SSH server: --timeout bounds the router's answers, and a router
// that says nothing uses all of it, so the SSH server (the fallback for
// exactly that case) gets a budget of its own: a connection attempt with
// its forward, then the GatewayPorts check (sshfwd's bounds for each).
const viaTimeout = sshfwd.DefaultDialTimeout + sshfwd.DefaultProbeTimeout

// mapDeadline bounds the making of one mapping: --timeout (default
// defaultTimeout), plus viaTimeout with --via.
func (o *options) mapDeadline() time.Duration {
	if o.ssh.via != "" {
		return o.deadline() + viaTimeout
	}
	return o.deadline()
}

// checkSSH parses --via and rejects SSH flags that need it.
func (o *options) checkSSH() error {
	if o.ssh.via == "" {
		if o.ssh.key != "" || o.ssh.knownHosts != "" {
			return errors.New("--ssh-key and --known-hosts go with --via ssh://user@host")
		}
		for _, m := range o.methods {
			if strings.EqualFold(m, "ssh") {
				return errors.New("--method ssh needs --via ssh://user@host")
			}
		}
		return nil
	}
	t, err := sshfwd.ParseTarget(o.ssh.via)
	if err != nil {
		return fmt.Errorf("--via: %w (want ssh://user@host[:port])", err)
	}
	o.ssh.target = t
	return nil
}

// sshConfig is the library's SSH configuration the flags describe, or nil
// without --via.
func (o *options) sshConfig() *sshfwd.Config {
	if o.ssh.via == "" {
		return nil
	}
	cfg := &sshfwd.Config{Server: o.ssh.target, KeyFile: o.ssh.key, Logger: o.logger}
	if o.ssh.knownHosts != "" {
		cfg.KnownHosts = []string{o.ssh.knownHosts}
	}
	return cfg
}

// runAddVia is `add EXTPORT [PORT] --via ssh://…`: the mapping may be a
// tunnel through the SSH server, which lives only while this process does,
// so add stays in the foreground until interrupted (as add --relay does),
// then deletes the mapping or closes the tunnel.
func runAddVia(ctx context.Context, a *app, o *options, spec mapSpec) error {
	for _, p := range spec.protos {
		if p != "tcp" {
			return usagef("--via forwards TCP only (an SSH server cannot forward UDP)")
		}
	}
	s := newSession(a, o)
	for _, proto := range spec.protos {
		if err := s.addMapping(ctx, spec, proto, ""); err != nil {
			s.abort()
			return err
		}
	}
	if err := s.printStarted(); err != nil {
		s.abort()
		return err
	}
	return s.wait(ctx)
}

// runRelayVia is `relay LISTEN TARGET --via ssh://…`: a local forward
// (OpenSSH's -L). Connections to LISTEN go through the SSH server to
// TARGET, which is dialed from the server's side.
func runRelayVia(ctx context.Context, a *app, o *options, listen, target string) error {
	if o.udp {
		return usagef("--via forwards TCP only (an SSH server cannot forward UDP)")
	}
	if _, _, err := net.SplitHostPort(target); err != nil {
		return usagef("TARGET %q: want HOST:PORT as the SSH server reaches it", target)
	}
	cfg := o.sshConfig()
	dctx, cancel := context.WithTimeout(ctx, o.deadline())
	fwd, err := sshfwd.Local(dctx, *cfg, listen, target)
	cancel()
	if err != nil {
		return fmt.Errorf("relay %s -> %s via %s: %w", listen, target, cfg.Server, err)
	}
	defer fwd.Close()
	p := &printer{w: a.stdout, json: o.json}
	addr := fwd.Addr()
	if o.json {
		if err := p.object(viaRelayJSON{Event: "relaying", Proto: "tcp", Listen: addr.String(), Target: target, Via: cfg.Server.String()}); err != nil {
			return err
		}
	} else {
		p.line("relaying tcp %s -> %s via %s (Ctrl-C to stop)", addr, target, cfg.Server)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-fwd.Events():
			if !ok {
				return nil
			}
			if o.json {
				v := viaRelayJSON{Event: ev.Kind.String(), Proto: "tcp", Listen: addr.String(), Target: target, Via: cfg.Server.String()}
				if ev.Err != nil {
					v.Error = ev.Err.Error()
				}
				if err := p.object(v); err != nil {
					return err
				}
			} else {
				a.warn("%s", ev.String())
			}
		}
	}
}

// viaRelayJSON is one line of `relay --via --json`.
type viaRelayJSON struct {
	Event  string `json:"event"`
	Proto  string `json:"proto"`
	Listen string `json:"listen"`
	Target string `json:"target"`
	Via    string `json:"via"`
	Error  string `json:"error,omitempty"`
}

// sshTunnels returns the tunnels recorded in the state file: they are on
// SSH servers, not on the router that list reads.
func (s *state) sshTunnels() []stateMapping {
	var out []stateMapping
	for _, m := range s.Mappings {
		if m.Method == "ssh" {
			out = append(out, m)
		}
	}
	return out
}

// runDeleteVia is `delete EXTPORT --via …`: a tunnel belongs to the SSH
// connection of the upnpmap add or run that made it (no other connection can
// cancel it), and the server closes the port when that connection ends. So
// delete interrupts that process, as Ctrl-C would, and waits until it has
// closed the tunnel. It refuses when the process also keeps other mappings,
// and only forgets the record of a process that is gone (its connection,
// and so the port on the server, went with it).
func runDeleteVia(ctx context.Context, a *app, o *options, ext uint16) error {
	st := a.readState()
	var found []stateMapping
	others := map[int]bool{} // processes that keep other mappings too
	for _, m := range st.Mappings {
		if m.Method == "ssh" && m.External.Port() == ext && sameServer(m.Gateway, o.ssh.target) {
			found = append(found, m)
		}
	}
	if len(found) == 0 {
		return fmt.Errorf("no tunnel on port %d through %s is recorded: a tunnel lives only while the upnpmap add or run that made it runs", ext, o.ssh.target.Host)
	}
	for _, m := range st.Mappings {
		if m.PID != 0 && !(m.Method == "ssh" && m.External.Port() == ext) {
			others[m.PID] = true
		}
	}
	p := &printer{w: a.stdout, json: o.json}
	ctx, cancel := context.WithTimeout(ctx, o.deadline())
	defer cancel()
	for _, m := range found {
		live := m.PID != 0 && isUpnpmapProcess(m.PID)
		if live && others[m.PID] {
			return fmt.Errorf("the tunnel %s is kept by upnpmap process %d together with other mappings: stop that process (Ctrl-C) to close them all", m.External, m.PID)
		}
		if live {
			if err := interrupt(ctx, m.PID); err != nil {
				return fmt.Errorf("close the tunnel %s: stop upnpmap process %d: %w", m.External, m.PID, err)
			}
		}
		// The process removes its record as it exits; a process that is
		// gone left it behind.
		if err := a.updateState(func(s *state) { s.remove(m.sameSlot) }); err != nil && o.verbose {
			a.warn("state file: %v", err)
		}
		if o.json {
			if err := p.object(mappingJSON{Event: "deleted", Method: "ssh", Protocol: m.Protocol,
				External: m.External.String(), Internal: m.Internal.String(), Gateway: m.Gateway.String()}); err != nil {
				return err
			}
			continue
		}
		p.line("deleted tunnel %s %s (the SSH server no longer listens)", m.Protocol, m.External)
	}
	return nil
}

// tunnelExitPoll is how often delete looks whether the interrupted process
// holding a tunnel has exited.
const tunnelExitPoll = 50 * time.Millisecond

// interrupt sends pid SIGINT and waits, bounded by ctx, until it has exited.
func interrupt(ctx context.Context, pid int) error {
	proc, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	if err := proc.Signal(os.Interrupt); err != nil {
		return err
	}
	for isUpnpmapProcess(pid) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("still running: %w", ctx.Err())
		case <-time.After(tunnelExitPoll):
		}
	}
	return nil
}

// isUpnpmapProcess reports whether pid is a running process of this same
// upnpmap binary (so that a recycled PID is never signalled). It reads
// /proc; where there is none, it says no and delete only forgets.
func isUpnpmapProcess(pid int) bool {
	self, err := os.Executable()
	if err != nil {
		return false
	}
	exe, err := os.Readlink(filepath.Join("/proc", strconv.Itoa(pid), "exe"))
	if err != nil {
		return false
	}
	if b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat")); err == nil {
		if i := bytes.LastIndexByte(b, ')'); i >= 0 && strings.HasPrefix(string(b[i+1:]), " Z") {
			return false // exited, not yet reaped
		}
	}
	return exe == self
}

// sameServer reports whether a recorded server address may be t's host (a
// host name matches any address: it was resolved when connecting).
func sameServer(a netip.Addr, t sshfwd.Target) bool {
	h, err := netip.ParseAddr(t.Host)
	return err != nil || h.Unmap() == a.Unmap()
}
