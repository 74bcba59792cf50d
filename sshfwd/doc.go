// Package sshfwd opens a port through an SSH server when no router can: a
// remote forward (OpenSSH's ssh -R) on any stock OpenSSH server makes a local
// or LAN service reachable at the server's address, and a local forward
// (ssh -L) reaches a target from the server's side.
//
// It speaks the SSH connection protocol's port forwarding (RFC 4254 section 7:
// tcpip-forward, forwarded-tcpip, cancel-tcpip-forward, direct-tcpip) on
// golang.org/x/crypto/ssh, keeps the connection alive with OpenSSH's
// keepalive@openssh.com request, and reconnects with exponential backoff and
// jitter when it drops, asking for the same remote port again. Lost and
// Restored events say when the port is unreachable and back.
//
// It authenticates as OpenSSH does (ssh-agent, then ~/.ssh/id_ed25519,
// id_ecdsa, id_rsa, or a named key) and checks the server's host key against
// known_hosts, [host]:port entries and hashed names included. An unknown or
// changed key is a *HostKeyError that carries the fingerprint and the exact
// known_hosts line to add. Nothing here ever prompts: a passphrase-protected
// key is an error (ErrPassphrase), not a question.
//
// OpenSSH binds a remote forward to the server's loopback unless sshd_config
// says GatewayPorts yes or clientspecified, and its reply does not say which
// it did. Remote checks after its first forward by opening a direct-tcpip channel
// from the server to its own address and port: if the forward does not
// receive it, the error is ErrLoopbackOnly, naming the missing line.
//
// The server needs nothing but a stock OpenSSH and three lines in
// sshd_config (sshd allows no comment after a value, so none is shown):
//
//	GatewayPorts clientspecified
//	ClientAliveInterval 15
//	ClientAliveCountMax 3
//
// The first lets a forward listen on the public address. The other two free
// a vanished client's session, and its port, within a minute: without them a
// client that vanished silently keeps its port on the server for hours, and
// reconnecting is refused meanwhile (ErrPortHeld in a Failed event; the
// Forward keeps asking).
//
// Dynamic (SOCKS) forwarding, ssh -D, is left to OpenSSH.
package sshfwd
