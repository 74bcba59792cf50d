package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/upnpmap/upnpmap"
)

var deleteCmd = &command{
	name:    "delete",
	usage:   "delete EXTPORT [flags]",
	summary: "remove the mapping of EXTPORT",
	about: `Remove the mapping of external port EXTPORT. Mappings upnpmap made are deleted
with the method that made them (PCP needs the nonce upnpmap recorded); others
are deleted over UPnP. Without --tcp or --udp, both protocols are tried.`,
	examples: []string{
		"upnpmap delete 8080",
		"upnpmap delete 27015 --udp",
	},
	flags:   []flagGroup{protoFlags},
	common:  []flagGroup{networkFlags, outputFlags},
	minArgs: 1,
	maxArgs: 1,
	run:     runDelete,
}

type deletedJSON struct {
	Protocol     string `json:"protocol"`
	ExternalPort uint16 `json:"external_port"`
	Method       string `json:"method"`
	Gateway      string `json:"gateway,omitempty"`
}

func runDelete(ctx context.Context, a *app, o *options, args []string) error {
	ext, err := parsePort(args[0])
	if err != nil {
		return usagef("EXTPORT: %v", err)
	}
	protos := []string{"tcp", "udp"}
	if o.tcp || o.udp {
		protos = o.protocols()
	}
	st := a.readState()
	ctx, cancel := context.WithTimeout(ctx, o.deadline())
	defer cancel()
	p := &printer{w: a.stdout, json: o.json}

	// What to delete: for each protocol, our record of it if there is one
	// (deleted with its own method), else a UPnP delete by external port.
	// Without --tcp/--udp, our records decide which protocols; with none,
	// both are tried over UPnP.
	type target struct {
		proto string
		rec   stateMapping
		ours  bool
	}
	var targets []target
	for _, proto := range protos {
		rec, ok := st.find(o.gatewayAddr(), proto, ext)
		targets = append(targets, target{proto, rec, ok})
	}
	if !o.tcp && !o.udp {
		var ours []target
		for _, tg := range targets {
			if tg.ours {
				ours = append(ours, tg)
			}
		}
		if len(ours) > 0 {
			targets = ours
		}
	}

	var deleted int
	var errs []error
	for _, tg := range targets {
		req := upnpmap.DeleteRequest{Protocol: upnpProto(tg.proto), ExternalPort: ext, Method: upnpmap.UPnP}
		c := a.newClient(o, st)
		if tg.ours {
			// Delete it the way it was made, at the gateway it was made on.
			req.Method = upnpmap.Method(tg.rec.Method)
			req.InternalPort = tg.rec.Internal.Port()
			req.InternalAddr = tg.rec.Internal.Addr()
			if b, err := hex.DecodeString(tg.rec.Nonce); err == nil && len(b) == 12 {
				copy(req.Nonce[:], b)
			}
			c.Gateway = tg.rec.Gateway
		}
		start := time.Now()
		err := c.Delete(ctx, req)
		if tg.ours && (err == nil || errors.Is(err, upnpmap.ErrNoSuchEntry)) {
			// Gone either way: forget it.
			if uerr := a.updateState(func(s *state) { s.remove(tg.rec.sameSlot) }); uerr != nil {
				a.warn("state file: %v", uerr)
			}
		}
		if err != nil {
			errs = append(errs, &mapErr{proto: tg.proto, ext: ext,
				err: o.netErr(fmt.Sprintf("delete %s port %d", tg.proto, ext), start, err)})
			continue
		}
		deleted++
		d := deletedJSON{Protocol: tg.proto, ExternalPort: ext, Method: string(req.Method)}
		if c.Gateway.IsValid() {
			d.Gateway = c.Gateway.String()
		}
		if o.json {
			if err := p.object(d); err != nil {
				return err
			}
		} else {
			p.line("deleted %s port %d (%s)", tg.proto, ext, d.Method)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	// Without --tcp/--udp we may have tried both over UPnP: one of them
	// missing is normal.
	if deleted > 0 && !o.tcp && !o.udp {
		for _, err := range errs {
			if !errors.Is(err, upnpmap.ErrNoSuchEntry) {
				return err
			}
		}
		return nil
	}
	return errs[0]
}

// find returns the recorded mapping of proto/ext, on gateway gw when given.
func (s *state) find(gw netip.Addr, proto string, ext uint16) (stateMapping, bool) {
	for i := len(s.Mappings) - 1; i >= 0; i-- {
		m := s.Mappings[i]
		if m.Protocol == proto && m.External.Port() == ext && (!gw.IsValid() || m.Gateway == gw) {
			return m, true
		}
	}
	return stateMapping{}, false
}
