package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

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
// session of the upnpmap process that made it, and the server closes its
// port when that session ends; no other session can cancel it. So delete
// forgets the record and says which process to stop.
func runDeleteVia(a *app, o *options, ext uint16) error {
	var found []stateMapping
	err := a.updateState(func(st *state) {
		kept := st.Mappings[:0]
		for _, m := range st.Mappings {
			if m.Method == "ssh" && m.External.Port() == ext && sameServer(m.Gateway, o.ssh.target) {
				found = append(found, m)
				continue
			}
			kept = append(kept, m)
		}
		st.Mappings = kept
	})
	if err != nil {
		return err
	}
	p := &printer{w: a.stdout, json: o.json}
	if len(found) == 0 {
		return fmt.Errorf("no tunnel on port %d through %s is recorded; a tunnel lives only while the upnpmap add/run that made it runs", ext, o.ssh.target)
	}
	for _, m := range found {
		if o.json {
			if err := p.object(map[string]any{"event": "forgotten", "external": m.External.String(), "method": "ssh"}); err != nil {
				return err
			}
			continue
		}
		p.line("forgot the tunnel %s; the server closes it when the upnpmap add/run holding it stops (Ctrl-C)", m.External)
	}
	return nil
}

// sameServer reports whether a recorded server address may be t's host (a
// host name matches any address: it was resolved when connecting).
func sameServer(a netip.Addr, t sshfwd.Target) bool {
	h, err := netip.ParseAddr(t.Host)
	return err != nil || h.Unmap() == a.Unmap()
}
