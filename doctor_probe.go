package upnpmap

import (
	"context"
	"errors"
	"net/url"
	"sync"
	"time"

	"github.com/upnpmap/upnpmap/discovery"
	"github.com/upnpmap/upnpmap/igd"
	"github.com/upnpmap/upnpmap/reach"
)

// probe asks every enabled method on its own, at the same time, and times
// each answer. What answered becomes the gateway's cached probe, so the
// later steps (and a Map on the same Client) need not ask again.
func (d *diagnosis) probe(ctx context.Context) {
	gw := d.gw
	if err := gw.probes.lock(ctx); err != nil {
		return
	}
	defer gw.probes.unlock()
	answers := make([]MethodAnswer, len(gw.mappers))
	infos := make([]*probeInfo, len(gw.mappers))
	var wg sync.WaitGroup
	for i, mp := range gw.mappers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i], infos[i] = d.probeMethod(ctx, mp)
		}()
	}
	wg.Wait()
	res := &DiscoverResult{Gateway: gw.addr, Local: gw.local}
	for i, mp := range gw.mappers {
		if errors.Is(errFromText(answers[i]), ErrNetworkFailure) {
			d.noUplink = true
		}
		if infos[i] == nil {
			continue
		}
		res.Methods = append(res.Methods, mp.method())
		res.learn(infos[i])
		if up, ok := mp.(*upnpMapper); ok {
			d.upnp = up
		}
	}
	d.r.Methods = answers
	if len(res.Methods) > 0 {
		gw.probes.store(res, gw.c.clock().Now(), nil)
	}
}

// probeMethod asks one method. PCP and NAT-PMP get ProbeTimeout; UPnP gets
// it for the SSDP answer and then RequestTimeout from that answer for the
// description, as Discover gives them.
func (d *diagnosis) probeMethod(ctx context.Context, mp mapper) (MethodAnswer, *probeInfo) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	budget := time.AfterFunc(d.c.probeTimeout(), cancel)
	defer budget.Stop()
	var once sync.Once
	alive := func() {
		once.Do(func() {
			if budget.Stop() {
				budget = time.AfterFunc(d.c.requestTimeout(), cancel)
			}
		})
	}
	start := time.Now()
	info, err := mp.probe(ctx, alive)
	a := MethodAnswer{Method: mp.method(), Elapsed: time.Since(start)}
	switch {
	case err != nil:
		a.Error = errText(err)
		a.err = err
		return a, nil
	case info == nil:
		info = &probeInfo{}
	}
	a.Answered, a.External = true, info.external
	return a, info
}

// errFromText returns the error behind an answer, if any.
func errFromText(a MethodAnswer) error { return a.err }

// external learns the external address: from a method's answer, or by
// asking UPnP.
func (d *diagnosis) external(ctx context.Context) {
	for _, a := range d.r.Methods {
		if a.External.IsValid() && !a.External.IsUnspecified() {
			d.r.External = a.External
			return
		}
	}
	if d.upnp == nil {
		return
	}
	err := d.gw.call(ctx, func(ctx context.Context) (err error) {
		d.r.External, _, err = d.upnp.externalAddr(ctx)
		return err
	})
	if errors.Is(err, ErrNetworkFailure) {
		d.noUplink = true
	}
}

// device asks the UPnP device for its WAN state and reads its description
// for the make and model (the quirk catalogue's key) and the
// WANCommonInterfaceConfig service.
func (d *diagnosis) device(ctx context.Context) {
	if d.upnp == nil {
		return
	}
	dev := &DeviceReport{Location: d.upnp.locationURL()}
	d.r.Device = dev
	cl := d.upnp.client()
	if cl != nil {
		var st *igd.StatusInfo
		if err := d.gw.call(ctx, func(ctx context.Context) (err error) {
			st, err = cl.GetStatusInfo(ctx)
			return err
		}); err == nil {
			dev.ConnectionStatus = routerText(st.ConnectionStatus)
			d.statusDown = d.statusDown || !st.Connected()
		}
		var ct *igd.ConnectionTypeInfo
		if err := d.gw.call(ctx, func(ctx context.Context) (err error) {
			ct, err = cl.GetConnectionTypeInfo(ctx)
			return err
		}); err == nil {
			dev.ConnectionType = routerText(ct.ConnectionType)
		}
	}
	loc, err := url.Parse(dev.Location)
	if err != nil || dev.Location == "" {
		return
	}
	root, err := discovery.Fetch(ctx, loc, d.gw.addr, nil)
	if err != nil {
		d.gw.log.Debug("doctor: description", "err", errText(err))
		return
	}
	dev.FriendlyName = routerText(root.Device.FriendlyName)
	dev.Manufacturer = routerText(root.Device.Manufacturer)
	dev.ModelName = routerText(root.Device.ModelName)
	dev.Quirks = quirksFor(root)
	if svcs := root.Services(igd.ServiceWANCommonIFC1); len(svcs) > 0 {
		cmn := &igd.Client{ControlURL: svcs[0].ControlURL, ServiceType: svcs[0].ServiceType, Logger: d.c.Logger}
		var lp *igd.LinkProperties
		if err := d.gw.call(ctx, func(ctx context.Context) (err error) {
			lp, err = cmn.GetCommonLinkProperties(ctx)
			return err
		}); err == nil {
			dev.LinkStatus = routerText(lp.PhysicalLinkStatus)
			d.statusDown = d.statusDown || !lp.Up()
		}
	}
	if dev.ConnectionType == "IP_Bridged" {
		d.add(Finding{Code: "BRIDGED", Severity: SeverityError,
			What: "the router's connection type is IP_Bridged: it accepts mappings but does not translate addresses, so they forward nothing",
			Fix:  "map the port on the device that does the NAT (the modem or router upstream), or switch this router to routed (NAT) mode"})
	}
}

// nat names the NAT situation from the uplink state, the external address
// and, with a Checker, the address the Internet sees.
func (d *diagnosis) nat(ctx context.Context) {
	r := d.r
	switch ext := r.External.Unmap(); {
	case d.statusDown || d.noUplink:
		r.NAT = NATNotConnected
		d.add(Finding{Code: "NOT_CONNECTED", Severity: SeverityError,
			What: "the router says its Internet connection is down" + d.wanState(),
			Fix:  "check the router's uplink (cable, DSL sync, PPP login) in its status page; mappings work once it is connected"})
		return
	case !ext.IsValid():
		r.NAT = NATUnknown
		d.add(Finding{Code: "EXTERNAL_UNKNOWN", Severity: SeverityInfo,
			What: "no method told the router's external address",
			Fix:  "name a checker (--checker HOST) to see the address the Internet sees"})
	case cgnat.Contains(ext):
		r.NAT = NATCGNAT
		d.add(Finding{Code: "CGNAT", Severity: SeverityError,
			What: "the router's external address " + ext.String() + " is in 100.64.0.0/10: the provider's carrier-grade NAT sits upstream, so mapped ports are not reachable from the Internet",
			Fix:  "ask the provider for a public IPv4 address (or use IPv6), or forward through a host with one (upnpmap add --via ssh://user@host)"})
		return
	case notPublic(ext):
		r.NAT = NATDouble
		d.add(Finding{Code: "DOUBLE_NAT", Severity: SeverityError,
			What: "the router's external address " + ext.String() + " is private: another router sits upstream (double NAT)",
			Fix:  "put the upstream router in bridge mode, or map the same port on it to this router's address " + ext.String() + " (or make this router its DMZ host)"})
		return
	default:
		r.NAT = NATOK
	}
	d.checker(ctx)
}

// wanState quotes what the device said, for NOT_CONNECTED.
func (d *diagnosis) wanState() string {
	dev := d.r.Device
	if dev == nil {
		return " (NETWORK_FAILURE)"
	}
	s := ""
	if dev.ConnectionStatus != "" {
		s += " (status " + dev.ConnectionStatus
		if dev.LinkStatus != "" {
			s += ", link " + dev.LinkStatus
		}
		s += ")"
	} else if dev.LinkStatus != "" {
		s += " (link " + dev.LinkStatus + ")"
	}
	return s
}

// checker asks the Checker which address it sees, and compares.
func (d *diagnosis) checker(ctx context.Context) {
	if d.o.Checker == "" {
		return
	}
	seen, err := reach.STUN(ctx, d.o.Checker)
	if err != nil {
		d.add(Finding{Code: "CHECKER_FAILED", Severity: SeverityWarning,
			What: "the checker " + d.o.Checker + " did not answer: " + errText(err),
			Fix:  "check the checker's address, or leave --checker out"})
		return
	}
	d.r.Observed = seen.Addr().Unmap()
	switch reach.CompareExternal(d.r.Observed, d.r.External) {
	case reach.NATUpstream:
		d.r.NAT = NATUpstream
		d.add(Finding{Code: "UPSTREAM_NAT", Severity: SeverityError,
			What: "the Internet sees this host as " + d.r.Observed.String() + ", not as the router's external address " + d.r.External.String() + ": a NAT upstream of the router translates again",
			Fix:  "ask the provider for a public address on the router, or forward through a host with one (upnpmap add --via ssh://user@host)"})
	case reach.NATUnknown:
		d.add(Finding{Code: "CHECKER_OTHER_FAMILY", Severity: SeverityInfo,
			What: "the checker saw " + d.r.Observed.String() + ", which cannot be compared with the router's external address"})
	}
}
