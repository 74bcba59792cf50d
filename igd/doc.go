// Package igd is a UPnP Internet Gateway Device client: the SOAP actions of
// the WANIPConnection and WANPPPConnection services (versions 1 and 2, and the
// DSL Forum's legacy names for them, see ServiceTypes) that open, renew, list
// and delete port mappings and read the external address.
//
// It does not discover gateways: package discovery finds the device
// description and the services' control URLs. Given those, a Client is a
// struct literal, and Choose picks among several (a multi-WAN router, or an
// IP and a PPP connection) the one whose WAN is connected:
//
//	svcs, err := root.Usable(igd.ServiceTypes...) // errs.UnusableDevice if none
//	var cands []*igd.Client
//	for _, s := range svcs {
//		cands = append(cands, &igd.Client{ControlURL: s.ControlURL, ServiceType: s.ServiceType})
//	}
//	c, _, err := igd.Choose(ctx, cands) // GetStatusInfo only when there are several
//	ext, err := c.GetExternalIPAddress(ctx)
//	…
//	m := igd.PortMapping{
//		ExternalPort:   8080,
//		Protocol:       igd.TCP,
//		InternalPort:   8080,
//		InternalClient: "192.168.1.20", // this host's LAN address
//		Enabled:        true,
//		Description:    "my app",
//		LeaseDuration:  time.Hour,
//	}
//	err = c.AddPortMapping(ctx, m)
//	if igd.IsRetryWithPermanentLease(err) { // 725, or 402 to a lease
//		m.LeaseDuration = 0 // permanent: remember to delete it
//		err = c.AddPortMapping(ctx, m)
//	}
//	if errors.Is(err, igd.ErrConflict) { // 718/729: someone holds the port
//		// try another port, or on IGD:2 let the router pick one:
//		port, err := c.AddAnyPortMapping(ctx, m)
//		…
//	}
//	…
//	defer c.DeletePortMapping(context.Background(), "", m.ExternalPort, igd.TCP)
//
// Renew by sending the same AddPortMapping again before the lease ends.
//
// # IPv6 pinholes
//
// The same Client speaks WANIPv6FirewallControl:1 (ServiceWANIPv6Firewall1,
// found with root.Services(igd.FirewallServiceTypes...)): AddPinhole opens
// an inbound pinhole to this host's IPv6 address and returns its UniqueID;
// UpdatePinhole renews it, DeletePinhole closes it, and RemovePinhole closes
// it even on gateways that answer DeletePinhole with 606 (by letting it
// expire). Pinholes have no translation and no permanent lease (1 s to one
// day). Send from the address being opened, over the gateway's IPv6 control
// URL: set Client.LocalAddr to the host's stable global address, or the
// gateway answers 606. The service's 70x codes have sentinels of their own
// (ErrFirewallDisabled, ErrInboundPinholeNotAllowed,
// ErrPinholeSpaceExhausted …); see FirewallErrorName.
//
// # Errors
//
// A gateway's refusal is a *UPnPError carrying the action (FailedAction),
// the UPnP error code and the description, capped and cleaned of control
// and bidirectional characters because the router wrote it; it unwraps to the shared sentinels of
// internal/errs, re-exported here (ErrConflict, ErrOnlyPermanentLeases,
// ErrNotAuthorized, ErrNoSuchEntry, ErrInvalidArgs, ErrNoResources,
// ErrUnsupported) or to this package's own (ErrArrayIndexInvalid,
// ErrActionFailed, the wildcard and port-shape errors, which also match
// ErrInvalidArgs). A reply that is not SOAP, a fault without a UPnP code, or
// an oversized body is a *ResponseError that matches ErrMalformed and
// carries the HTTP status. A control URL that refuses connections gives
// ErrUnreachable, the sign of a router that restarted on another port. A
// call cut short by Timeout or the context's deadline matches ErrTimeout and
// context.DeadlineExceeded; a cancelled context gives context.Canceled.
//
// The package decides nothing for the caller: it does not retry, fall back
// to other ports or delete anything on its own. IsRetryWithPermanentLease
// and the sentinels make those policies a line each.
//
// # Hostile input
//
// Request and reply bodies are bounded (MaxBodySize, 64 KiB by default),
// every call is bounded in time (Timeout, 5 s by default, and the context),
// redirects are never followed, and the reply parser is strict about the
// envelope's structure and the required out-arguments while tolerating
// namespace prefixes, white space and the charsets embedded servers use.
package igd
