// Package relay is a userspace TCP and UDP relay: it listens on a local
// address and forwards each TCP connection, and each UDP client's datagrams,
// to a target address.
//
// It is the piece that makes a port mapping useful when the router will only
// map ports to the host asking for them (NAT-PMP, PCP without THIRD_PARTY,
// UPnP secure mode): map the port to this host and relay it to the machine
// that runs the service. It is also a small rinetd, socat or
// systemd-socket-proxyd replacement with CIDR allow lists for IPv4 and IPv6,
// connection and session caps, idle timeouts, keepalive, half-close, PROXY
// protocol v1/v2 towards the target, systemd socket activation and
// per-connection logs.
//
// Typical use:
//
//	r := &relay.Relay{
//		Network: "both",                 // TCP and UDP
//		Listen:  ":8080",
//		Target:  "192.168.1.4:80",
//		Allow:   []netip.Prefix{netip.MustParsePrefix("192.168.0.0/16"), netip.MustParsePrefix("fd00::/8")},
//		Logger:  slog.Default(),         // one line per connection when it ends
//	}
//	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
//	defer stop()
//	if err := r.Run(ctx); err != nil { // returns after a graceful shutdown
//		log.Fatal(err)
//	}
//
// # TCP
//
// Small messages move by read and write; once a single read fills a 16 KiB
// buffer the data is bulk, and it moves with io.Copy between the two
// *net.TCPConn, so on Linux the kernel splices it and it never enters the
// process. A direction with
// nothing to move for a quarter of a second parks: its socket joins an epoll
// set of the relay's own and its goroutine exits, so an idle connection keeps
// its two sockets and no goroutine, stack or pipe (about 3 KiB of memory per
// idle connection measured, see bench/relay.sh). An EOF from
// one side becomes a CloseWrite on the other while the opposite direction
// goes on (half-close). A target that refuses or does not answer within
// DialTimeout makes the relay reset the client. IdleTimeout is enforced by a
// watchdog that reads per-connection activity stamps, so it never gets in the
// way of splice.
//
// # Abuse
//
// A relay whose port is open to the Internet meets clients that connect and
// say nothing, and datagrams from addresses that change with every packet.
// So that they cannot lock real clients out, the defaults limit them:
//
//   - one source (an IPv4 address or an IPv6 /64) holds at most
//     MaxConnsPerSource connections and MaxSessionsPerSource UDP sessions
//     (64 each); beyond that it is refused;
//   - a connection on which nothing is sent either way is closed after
//     SilentTimeout (10 s);
//   - at MaxConns or MaxSessions a newcomer is still served: the oldest
//     connection that has not spoken for a second, or else the one quiet
//     the longest, makes room (for UDP: the session quiet the longest).
//     Connections moving bytes are never evicted; when all of them are busy
//     the newcomer waits until one ends.
//
// Refusals, evictions and silent closes are counted in Stats.
//
// # UDP
//
// Every client address gets its own socket connected to the target, so
// replies find their way back; they are sent from the listening socket. A
// session ends after IdleTimeout (60 s by default) without a datagram either
// way and is created again by the client's next datagram. MaxSessions caps
// the sessions; a further client takes the place of the quietest. On Linux,
// datagrams are read and written in batches (recvmmsg, sendmmsg).
//
// # Shutdown
//
// When the context given to Run or Start is done, the relay stops accepting
// connections and new UDP clients, lets live connections and sessions go on
// for up to ShutdownTimeout, then cuts them. Run returns once every goroutine
// and socket of the relay is gone.
//
// # Ports below 1024 without root
//
// Two ways, both tested:
//
//   - file capabilities: sudo setcap cap_net_bind_service=+ep /usr/local/bin/upnpmap
//     lets any user's process of that binary bind low ports (the
//     capability is lost when the file is replaced, so set it after each
//     install);
//   - socket activation: systemd (or systemd-socket-activate for a quick
//     test) binds the port and starts the program as an unprivileged user
//     with the socket; SystemdListeners takes it. examples/systemd has a
//     .socket and .service pair.
package relay
