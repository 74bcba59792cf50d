package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/pflag"

	"github.com/upnpmap/upnpmap"
)

// doctorExitBlocked is `upnpmap doctor`'s exit code when a gateway answered
// but some finding stands in the way of the port (no gateway at all is
// exitNoGateway, as for the other commands).
const doctorExitBlocked = 7

// doctorDeadline bounds a whole doctor run: every method is asked on its
// own (a silent one costs its probe budget), then the UPnP device is asked
// a handful of questions, then the checker, one after the other.
const doctorDeadline = 30 * time.Second

// doctorOptions are doctor's own flags.
type doctorOptions struct {
	checker string
	cleanup bool
}

func doctorFlags(fs *pflag.FlagSet, o *options) {
	fs.StringVar(&o.doctor.checker, "checker", "", "ask `HOST` (STUN or checkd) which address it sees")
	fs.BoolVar(&o.doctor.cleanup, "cleanup", false, "delete mappings left behind, forget lost ones")
}

var doctorCmd = &command{
	name:    "doctor",
	usage:   "doctor [PORT] [flags]",
	summary: "why a port is not reachable, and the fixes",
	about: `Examine the way from PORT here to the Internet and give the fix for each
problem: the interfaces and the one chosen; each method's answer and speed;
the UPnP device's WAN state (disconnected, link down, bridged); the NAT
(OK, CGNAT, DOUBLE_NAT, UPSTREAM_NAT with --checker, NOT_CONNECTED,
NO_GATEWAY); whether anything listens on PORT; mappings this host left
behind; the device's known quirks. Exit 0 only when the port can work, 2 no
gateway, 7 something stands in the way. --json: one object (see README).`,
	examples: []string{
		"upnpmap doctor 8080",
		"upnpmap doctor 27015 --udp --checker stun.example.net",
		"upnpmap doctor --cleanup --json",
	},
	flags:   []flagGroup{doctorFlags, protoFlags, descriptionFlag},
	common:  []flagGroup{networkFlags, outputFlags},
	maxArgs: 1,
	run:     runDoctor,
}

func descriptionFlag(fs *pflag.FlagSet, o *options) {
	fs.StringVarP(&o.description, "description", "d", o.description, "label of this host's mappings")
}

func runDoctor(ctx context.Context, a *app, o *options, args []string) error {
	var port uint16
	if len(args) == 1 {
		p, err := parsePort(args[0])
		if err != nil {
			return usagef("%v", err)
		}
		port = p
	}
	proto := upnpmap.TCP
	if o.udp && !o.tcp {
		proto = upnpmap.UDP
	}
	st := a.readState()
	c := a.newClient(o, st)
	ctx, cancel := context.WithTimeout(ctx, max(doctorDeadline, o.deadline()))
	defer cancel()
	stop := a.progress(o, "the diagnosis")
	r, err := c.Diagnose(ctx, upnpmap.DiagnoseOptions{
		Port: port, Protocol: proto, Checker: o.doctor.checker, Description: o.description,
		Recorded: recordedMappings(st), Cleanup: o.doctor.cleanup,
	})
	stop()
	if err != nil {
		return err
	}
	if o.doctor.cleanup {
		a.dropGone(r)
	}
	if o.json {
		err = (&printer{w: a.stdout, json: true}).object(r)
	} else {
		err = r.WriteText(a.stdout)
	}
	if err != nil {
		return err
	}
	switch {
	case r.PortCanWork:
		return nil
	case r.NAT == upnpmap.NATNoGateway:
		return &exitStatus{code: exitNoGateway}
	}
	return &exitStatus{code: doctorExitBlocked}
}

// recordedMappings are the state file's mappings, for Diagnose.
func recordedMappings(st *state) []upnpmap.RecordedMapping {
	if st == nil {
		return nil
	}
	out := make([]upnpmap.RecordedMapping, 0, len(st.Mappings))
	for _, m := range st.Mappings {
		if m.Method == "ssh" {
			continue // a tunnel is on an ssh server, not on the router
		}
		out = append(out, upnpmap.RecordedMapping{Gateway: m.Gateway, Method: upnpmap.Method(m.Method),
			Protocol: upnpmap.Protocol(m.Protocol), External: m.External, Internal: m.Internal})
	}
	return out
}

// dropGone removes from the state file the records of mappings the router
// no longer has.
func (a *app) dropGone(r *upnpmap.Report) {
	gone := func(m stateMapping) bool {
		for _, s := range r.Stale {
			if s.Kind == upnpmap.StaleGone && m.Gateway == r.Gateway && m.Method == string(s.Method) &&
				m.Protocol == string(s.Protocol) && m.External.Port() == s.External.Port() {
				return true
			}
		}
		return false
	}
	if err := a.updateState(func(s *state) { s.remove(gone) }); err != nil {
		a.warn("state file: %v", err)
	}
}

// exitStatus ends a command with a code after it printed its own report:
// nothing more is printed.
type exitStatus struct{ code int }

func (e *exitStatus) Error() string { return fmt.Sprintf("exit status %d", e.code) }
