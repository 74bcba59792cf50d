//go:build linux

package netlab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// SSHDOptions configure a lab sshd (Lab.StartSSHD).
type SSHDOptions struct {
	// Port is where sshd listens; default DefaultSSHDPort.
	Port uint16
	// GatewayPorts is sshd_config's GatewayPorts; default "clientspecified"
	// (what the SSH fallback needs). "no" is stock sshd's default: remote
	// forwards listen on loopback only.
	GatewayPorts string
}

// DefaultSSHDPort is a lab sshd's port unless SSHDOptions.Port says
// otherwise: not 22, so that known_hosts names it [host]:port.
const DefaultSSHDPort = 2222

// sshdReadyTimeout bounds the wait for a started sshd to accept connections.
const sshdReadyTimeout = 10 * time.Second

// sshdStopGrace is how long sshd and its sessions get to exit on SIGTERM
// before they are killed.
const sshdStopGrace = 3 * time.Second

// SSHUser is the lab sshd's login: an unprivileged user that exists only in
// sshd's own mount namespace (a copy of /etc/passwd and /etc/group with the
// user added is bind-mounted over the real ones there), so that the tunnel
// is tested as a user of a VPS would make it, without root's rights on the
// server, and nothing is added to the machine's user database.
const SSHUser = "upnpmap-lab"

// sshUserFirstUID is the first uid tried for SSHUser: the first free one
// from here is taken.
const sshUserFirstUID = 60922

// SSHD is Debian's OpenSSH server running in a lab node, with a config, a
// host key, a user (SSHUser) and one authorised client key of its own, all
// in a temporary directory: the SSH fallback's server. Clients log in as
// SSHUser with KeyFile. Restart and Close end its sessions too, as a reboot
// of the server ends its clients' connections.
type SSHD struct {
	lab  *Lab
	node Node
	opts SSHDOptions
	dir  string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	log    bytes.Buffer // guarded by mu (through logWriter)
	closed bool
}

// StartSSHD generates keys, writes a config and starts sshd -D in node,
// returning once it accepts connections. It is stopped and its directory
// removed by Close, which t.Cleanup calls (before the lab's own Close,
// cleanups running last-in first-out). It needs /usr/sbin/sshd and
// ssh-keygen (Debian: openssh-server), unshare and mount (util-linux).
func (l *Lab) StartSSHD(ctx context.Context, t testing.TB, node Node, opts SSHDOptions) (*SSHD, error) {
	if opts.Port == 0 {
		opts.Port = DefaultSSHDPort
	}
	if opts.GatewayPorts == "" {
		opts.GatewayPorts = "clientspecified"
	}
	if _, err := l.netns(node); err != nil {
		return nil, err
	}
	// sshd's privilege separation directory; Debian's package creates it
	// only when its service starts.
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		return nil, fmt.Errorf("netlab: sshd: %w", err)
	}
	dir, err := os.MkdirTemp(reachableTempDir(), "netlab-sshd-")
	if err != nil {
		return nil, fmt.Errorf("netlab: sshd: %w", err)
	}
	s := &SSHD{lab: l, node: node, opts: opts, dir: dir}
	if err := s.setup(ctx); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := s.start(ctx); err != nil {
		s.Close()
		return nil, err
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("sshd log:\n%s", s.Log())
		}
		s.Close()
	})
	return s, nil
}

// setup writes the host key, the client key, authorized_keys, the user
// database with SSHUser and sshd_config.
func (s *SSHD) setup(ctx context.Context) error {
	// sshd reads authorized_keys as the user who logs in: the directory and
	// that file must be readable by SSHUser (the private keys stay 0600).
	if err := os.Chmod(s.dir, 0o755); err != nil {
		return fmt.Errorf("netlab: sshd: %w", err)
	}
	if err := s.writeUser(); err != nil {
		return err
	}
	for _, k := range []string{"host_key", "client_key"} {
		if _, err := run(ctx, "", "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "netlab", "-f", filepath.Join(s.dir, k)); err != nil {
			return err
		}
	}
	pub, err := os.ReadFile(filepath.Join(s.dir, "client_key.pub"))
	if err != nil {
		return fmt.Errorf("netlab: sshd: %w", err)
	}
	if err := os.WriteFile(filepath.Join(s.dir, "authorized_keys"), pub, 0o644); err != nil {
		return fmt.Errorf("netlab: sshd: %w", err)
	}
	hostPub, err := os.ReadFile(filepath.Join(s.dir, "host_key.pub"))
	if err != nil {
		return fmt.Errorf("netlab: sshd: %w", err)
	}
	f := strings.Fields(string(hostPub))
	if len(f) < 2 {
		return fmt.Errorf("netlab: sshd: host key %q", hostPub)
	}
	line := fmt.Sprintf("[%s]:%d %s %s\n", s.lab.Addr(s.node), s.opts.Port, f[0], f[1])
	if err := os.WriteFile(s.KnownHostsFile(), []byte(line), 0o600); err != nil {
		return fmt.Errorf("netlab: sshd: %w", err)
	}
	// StrictModes no: the keys live under /tmp. UsePAM no: no PAM stack
	// needed for a key login. The ClientAlive lines are those the README
	// recommends.
	conf := strings.Join([]string{
		fmt.Sprintf("Port %d", s.opts.Port),
		"ListenAddress 0.0.0.0",
		"HostKey " + filepath.Join(s.dir, "host_key"),
		"PidFile " + filepath.Join(s.dir, "sshd.pid"),
		"AuthorizedKeysFile " + filepath.Join(s.dir, "authorized_keys"),
		"StrictModes no",
		"UsePAM no",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"PermitRootLogin no",
		"AllowTcpForwarding yes",
		"GatewayPorts " + s.opts.GatewayPorts,
		"ClientAliveInterval 15",
		"ClientAliveCountMax 3",
		"LogLevel VERBOSE",
		"",
	}, "\n")
	if err := os.WriteFile(filepath.Join(s.dir, "sshd_config"), []byte(conf), 0o600); err != nil {
		return fmt.Errorf("netlab: sshd: %w", err)
	}
	return nil
}

// writeUser writes copies of /etc/passwd and /etc/group with SSHUser added
// (its home the sshd's directory, no password, no shell), which start
// mounts over the real ones in sshd's mount namespace only.
func (s *SSHD) writeUser() error {
	passwd, err := os.ReadFile("/etc/passwd")
	if err != nil {
		return fmt.Errorf("netlab: sshd: %w", err)
	}
	group, err := os.ReadFile("/etc/group")
	if err != nil {
		return fmt.Errorf("netlab: sshd: %w", err)
	}
	used := map[string]bool{}
	for _, db := range [][]byte{passwd, group} {
		for _, line := range strings.Split(string(db), "\n") {
			f := strings.Split(line, ":")
			if len(f) < 3 {
				continue
			}
			if f[0] == SSHUser {
				return fmt.Errorf("netlab: sshd: a user or group %s exists already", SSHUser)
			}
			used[f[2]] = true
		}
	}
	uid := sshUserFirstUID
	for used[strconv.Itoa(uid)] {
		uid++
	}
	// "*": no password, and not locked ("!"), which sshd would refuse even
	// for a key. nologin: sshd wants an existing shell; a tunnel runs none.
	shell := "/usr/sbin/nologin"
	if _, err := os.Stat(shell); err != nil {
		shell = "/bin/false"
	}
	entry := fmt.Sprintf("%s:*:%d:%d:upnpmap lab:%s:%s\n", SSHUser, uid, uid, s.dir, shell)
	if err := os.WriteFile(filepath.Join(s.dir, "passwd"), append(withNewline(passwd), entry...), 0o644); err != nil {
		return fmt.Errorf("netlab: sshd: %w", err)
	}
	gentry := fmt.Sprintf("%s:x:%d:\n", SSHUser, uid)
	if err := os.WriteFile(filepath.Join(s.dir, "group"), append(withNewline(group), gentry...), 0o644); err != nil {
		return fmt.Errorf("netlab: sshd: %w", err)
	}
	return nil
}

// withNewline returns b ending in a newline.
func withNewline(b []byte) []byte {
	if len(b) > 0 && b[len(b)-1] != '\n' {
		return append(b, '\n')
	}
	return b
}

// logWriter appends to the SSHD's log under its lock.
type logWriter struct{ s *SSHD }

func (w logWriter) Write(p []byte) (int, error) {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	return w.s.log.Write(p)
}

// start runs sshd -D -e and waits until it accepts connections.
func (s *SSHD) start(ctx context.Context) error {
	ns, err := s.lab.netns(s.node)
	if err != nil {
		return err
	}
	// Not tied to ctx: it lives until Restart or Close. unshare gives sshd
	// a mount namespace of its own, where the user database with SSHUser
	// replaces the machine's; sh then execs sshd, so that cmd's process is
	// sshd's listener.
	cmd := command(context.Background(), "ip", "netns", "exec", ns, "unshare", "--mount", "--propagation", "private",
		"/bin/sh", "-c", `mount --bind "$1" /etc/passwd && mount --bind "$2" /etc/group && exec /usr/sbin/sshd -D -e -f "$3"`,
		"sh", filepath.Join(s.dir, "passwd"), filepath.Join(s.dir, "group"), filepath.Join(s.dir, "sshd_config"))
	cmd.Stdout, cmd.Stderr = logWriter{s}, logWriter{s}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("netlab: start sshd: %w", err)
	}
	registerPID(cmd.Process.Pid)
	exited := make(chan struct{})
	go waitSSHD(cmd, exited)
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()

	ctx, cancel := context.WithTimeout(ctx, sshdReadyTimeout)
	defer cancel()
	for {
		c, err := s.lab.Dial(ctx, s.node, "tcp4", s.Addr().String())
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("netlab: sshd exited at start:\n%s", s.Log())
		case <-ctx.Done():
			return fmt.Errorf("netlab: sshd not listening on %v after %v: %w\n%s", s.Addr(), sshdReadyTimeout, err, s.Log())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// waitSSHD reaps sshd.
func waitSSHD(cmd *exec.Cmd, exited chan<- struct{}) {
	cmd.Wait()
	close(exited)
}

// stop ends sshd and every session it forked: the sessions are killed
// first (each is its own process group: sshd calls setsid for them, and a
// stock sshd keeps them when its listener stops), then the listener gets
// SIGTERM, and SIGKILL after sshdStopGrace.
func (s *SSHD) stop() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	pid := cmd.Process.Pid
	for _, p := range descendants(pid) {
		syscall.Kill(p, syscall.SIGKILL)
	}
	syscall.Kill(pid, syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(sshdStopGrace):
		syscall.Kill(pid, syscall.SIGKILL)
		<-exited
	}
}

// descendants lists the processes below pid, read from /proc.
func descendants(pid int) []int {
	children := map[int][]int{}
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		id, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", p.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so read after
		// its closing parenthesis.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 2 {
			continue
		}
		if ppid, err := strconv.Atoi(f[1]); err == nil {
			children[ppid] = append(children[ppid], id)
		}
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

// Restart stops sshd with all its sessions, as a reboot of the server or
// a restart that drops connections would, and starts it again with the
// same keys and config.
func (s *SSHD) Restart(ctx context.Context) error {
	s.stop()
	return s.start(ctx)
}

// Close stops sshd and removes its directory. It is idempotent.
func (s *SSHD) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.stop()
	return os.RemoveAll(s.dir)
}

// Addr is where sshd listens: the node's address and the port.
func (s *SSHD) Addr() netip.AddrPort {
	return netip.AddrPortFrom(s.lab.Addr(s.node), s.opts.Port)
}

// URL is the ssh:// target to log in as SSHUser, for --via.
func (s *SSHD) URL() string {
	return "ssh://" + SSHUser + "@" + net.JoinHostPort(s.lab.Addr(s.node).String(), fmt.Sprint(s.opts.Port))
}

// KeyFile is the client's private key (unencrypted ed25519).
func (s *SSHD) KeyFile() string { return filepath.Join(s.dir, "client_key") }

// KnownHostsFile holds the one known_hosts line for the server.
func (s *SSHD) KnownHostsFile() string { return filepath.Join(s.dir, "known_hosts") }

// Log is what sshd wrote so far.
func (s *SSHD) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

// errSSHDClosed is returned by methods of a closed SSHD.
var errSSHDClosed = errors.New("netlab: sshd closed")

// ForwardListening reports whether sshd's node has a TCP socket listening
// on port, and on which addresses (read from ss).
func (s *SSHD) ForwardListening(ctx context.Context, port uint16) ([]string, error) {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return nil, errSSHDClosed
	}
	out, err := s.lab.Exec(ctx, s.node, "ss", "-Htln", fmt.Sprintf("sport = :%d", port))
	if err != nil {
		return nil, err
	}
	var addrs []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.Fields(line); len(f) >= 4 {
			addrs = append(addrs, f[3])
		}
	}
	return addrs, nil
}

// reachableTempDir is a directory for sshd's files that SSHUser can reach:
// os.TempDir() when every directory on its path lets others through, as
// /tmp does, else /dev/shm or /tmp. test.sh's TMPDIR is a private (0700)
// directory, and behind it sshd, running as SSHUser, could not open
// authorized_keys ("Permission denied"), so every login failed. The files
// are a few small keys, and StrictModes is off, so a world-writable parent
// is fine.
func reachableTempDir() string {
	for _, d := range []string{os.TempDir(), "/dev/shm", "/tmp"} {
		if othersCanReach(d) {
			return d
		}
	}
	return os.TempDir()
}

// othersCanReach reports whether dir and each directory above it are
// searchable by every user (the x bit for others).
func othersCanReach(dir string) bool {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return false
	}
	for {
		fi, err := os.Stat(dir)
		if err != nil || !fi.IsDir() || fi.Mode().Perm()&0o001 == 0 {
			return false
		}
		up := filepath.Dir(dir)
		if up == dir {
			return true
		}
		dir = up
	}
}
