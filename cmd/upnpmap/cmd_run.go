package main

import (
	"context"

	"github.com/spf13/pflag"
)

var runCmd = &command{
	name:    "run",
	usage:   "run --map SPEC... [--relay SPEC...] [flags]",
	short:   "run --map SPEC --relay SPEC",
	summary: "keep mappings and relays up until interrupted",
	about: `Map, start the relays, renew (re-map after a router reboot), print each event;
SIGINT/SIGTERM deletes the mappings and stops (examples/systemd has a unit).
  --map [tcp:|udp:]EXTPORT[:[HOST:]PORT]  PORT defaults to EXTPORT, HOST to here
  --relay [tcp:|udp:]LISTEN=TARGET        e.g. :8080=192.168.1.5:80`,
	examples: []string{
		"upnpmap run --map 80:8080 --map udp:27015 --relay :8080=192.168.1.5:80",
	},
	flags:  []flagGroup{runFlags, protoFlags, leaseFlags, runCheckFlags},
	common: []flagGroup{outputFlags, familyFlags, relayFlags, networkFlags, chainFlags, ipv6Flags, sshFlags},
	run:    runRun,
}

func runFlags(fs *pflag.FlagSet, o *options) {
	fs.StringArrayVar(&o.maps, "map", nil, "keep this mapping (`SPEC` as above; repeatable)")
	fs.StringArrayVar(&o.relays, "relay", nil, "relay (`SPEC` above; repeatable; see 'help relay')")
}

func runRun(ctx context.Context, a *app, o *options, _ []string) error {
	if len(o.maps) == 0 && len(o.relays) == 0 {
		return usagef("nothing to do: give at least one --map (or --relay)")
	}
	if err := o.relayFlagsApply(len(o.relays) > 0); err != nil {
		return err
	}
	if err := o.checkFlagsApply(); err != nil {
		return err
	}
	// Read every spec before touching the network, so that a typo in the
	// third one does not leave the first two mapped.
	var maps []mapSpec
	for _, s := range o.maps {
		m, err := parseMapSpec(s, o.protocols())
		if err != nil {
			return usagef("%v", err)
		}
		maps = append(maps, m)
	}
	var relays []relaySpec
	for _, s := range o.relays {
		r, err := parseRelaySpec(s)
		if err != nil {
			return usagef("%v", err)
		}
		if r.proto != "" {
			relays = append(relays, r)
			continue
		}
		for _, p := range o.protocols() { // no prefix: --tcp/--udp decide
			r.proto = p
			relays = append(relays, r)
		}
	}

	s := newSession(a, o)
	s.adoptFrom = a.readState() // a killed run's mappings, to take over
	// Relays first: a port that cannot be bound should fail the run before
	// the router is asked for anything.
	for _, r := range relays {
		if _, err := s.startRelay(r); err != nil {
			s.abort()
			return err
		}
	}
	for _, m := range maps {
		for _, proto := range m.protos {
			if err := s.addMapping(ctx, m, proto, ""); err != nil {
				s.abort()
				return err
			}
		}
	}
	if err := s.printStarted(); err != nil {
		s.abort()
		return err
	}
	warnDescription(a, o, s.views())
	for _, m := range maps {
		for _, proto := range m.protos {
			warnNotListening(a, proto, m.port, !m.host.IsValid() || isThisMachine(m.host))
		}
	}
	s.startChecks(ctx)
	return s.wait(ctx)
}
