// Package discovery finds the Internet gateway: the default gateways from the
// routing table, UPnP devices by SSDP search, and their device descriptions.
//
// # Typical use
//
//	gws, err := discovery.DefaultGateways() // never a guessed x.x.x.1
//	if err != nil { … }                     // errors.Is(err, discovery.ErrNoDefaultRoute)
//
//	s := discovery.Searcher{Unicast: []netip.AddrPort{netip.AddrPortFrom(gws[0].Addr, 0)}}
//	ctx, cancel := context.WithTimeout(ctx, time.Second)
//	defer cancel()
//	err = s.Search(ctx, func(r discovery.Response) {
//		root, err := discovery.Fetch(ctx, r.Location, r.From.Addr(), nil)
//		if err != nil { return } // errors.Is(err, discovery.ErrUnusableDevice): too big, malformed
//		svcs, err := root.Usable(igd.ServiceTypes...)
//		if err != nil { return } // ErrUnusableDevice; the message names what it offers
//		use(svcs)   // igd.Choose picks the connected one
//		cancel()    // done: no need to wait for more answers
//	})
//
// Search reports answers as they arrive and runs until its context ends;
// there is no fixed listening window, so a caller that has what it needs
// cancels and moves on. Requests go by unicast to the given gateways and, if
// Searcher.Multicast is set, to the SSDP group on each suitable interface
// (IPv4, and IPv6 with Searcher.IPv6), each repeated a few times.
//
// # Host policy (SSRF)
//
// SSDP answers and device descriptions come from the LAN and are not
// trusted. A LOCATION, URLBase, controlURL, SCPDURL or eventSubURL names a
// host, and a hostile device could name this machine's loopback services,
// a link-local metadata endpoint or a third party, and have us send requests
// there. So every URL this package returns or fetches is pinned to the
// responder, the address the SSDP answer came from: its host is replaced by
// that address, while the port, path and query are kept. Nothing is ever
// fetched from the host as given, unless it is the responder itself (which is
// how tests on 127.x work). The same rewrite repairs real devices that
// announce a wrong host, such as http://[::1]:1900/. (A VRRP/CARP pair that
// answers from its static address is the caller's to judge: upnpmap's front
// door moves such a LOCATION to the gateway it searched, see its
// gatewayAnswer.)
//
// Fetch enforces the policy a second time at the socket: its dialer connects
// only to the responder. It also follows no redirect (ErrRedirect), uses no
// proxy from the environment, limits the size (256 KiB by default,
// ErrTooLarge) and the time (3 s by default, and the context) of the
// download, and uses a fresh http.Client for each call.
//
// # Errors
//
// Errors wrap the sentinels of the module (ErrNoGateway, ErrMalformed,
// ErrTimeout, ErrUnsupported, ErrInvalidArgs, ErrUnusableDevice), so
// errors.Is classifies them the same way across upnpmap's packages. A device
// that answered with a description too big, malformed or beyond the tree
// limits (depth 8, 64 devices, 256 services, 8192 elements, checked while
// decoding), or one that offers none of the wanted services (Root.Usable),
// gives ErrUnusableDevice: something is there, but not a usable gateway.
//
// # Logs
//
// With a Logger (Searcher.Logger, FetchOptions.Logger), every search sent,
// every answer accepted and every description fetched is a debug record;
// router-supplied text in them is cleaned first. Without one, nothing is
// logged.
//
// # Platforms
//
// DefaultGateways reads the kernel's tables on Linux and Android (rtnetlink,
// or /proc where netlink is refused), the routing sysctl on macOS and the
// BSDs, and GetIpForwardTable2 on Windows; elsewhere it returns
// ErrUnsupported.
package discovery
