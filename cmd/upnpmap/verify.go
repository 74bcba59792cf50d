package main

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/spf13/pflag"
	"github.com/upnpmap/upnpmap"
	"github.com/upnpmap/upnpmap/internal/safetext"
	"github.com/upnpmap/upnpmap/reach"
)

// `add --check` and `run --check --check-every`: the mappings verified by a
// checker the user runs (upnpmap checkd), through Mapping.Verify.

// Defaults and bounds of --check-every.
const (
	// defaultCheckEvery is how often run checks: often enough to find a
	// broken forward within minutes, rare enough that a checker serves many.
	defaultCheckEvery = 10 * time.Minute
	// minCheckEvery keeps run from asking a checker (which rate-limits each
	// source) or healing a router more than this often.
	minCheckEvery = time.Second
)

func addCheckFlag(fs *pflag.FlagSet, o *options) {
	fs.StringVar(&o.checker, "check", "", "verify from checker `HOST[:PORT]`")
}

func runCheckFlags(fs *pflag.FlagSet, o *options) {
	fs.StringVar(&o.checker, "check", "", "verify via checker `HOST[:PORT]`, heal once")
	fs.DurationVar(&o.checkEvery, "check-every", defaultCheckEvery, "with --check: verify every `D`")
}

// checkFlagsApply validates --check-every.
func (o *options) checkFlagsApply() error {
	if o.checker == "" {
		return nil
	}
	if o.checkEvery < minCheckEvery {
		return usagef("--check-every %v: at least %v", o.checkEvery, minCheckEvery)
	}
	return nil
}

// reachClient is the library's check configuration: add answers the probe
// itself while nothing listens (the path is proven before the application
// starts), run does not (holding the port could keep the application from
// binding it).
func (o *options) reachClient() *reach.Client {
	return &reach.Client{Answer: o.checkAnswer, Logger: o.logger}
}

// verifyJSON is a Verify outcome in add's and run's output.
type verifyJSON struct {
	Verdict   string `json:"verdict"`
	Reachable bool   `json:"reachable"`
	Observed  string `json:"observed,omitempty"` // the address the checker saw
	NAT       string `json:"nat,omitempty"`      // UPSTREAM_NAT, PRIVATE_EXTERNAL, NONE
	Healed    bool   `json:"healed,omitempty"`
	Error     string `json:"error,omitempty"`
}

func verificationJSON(v upnpmap.Verification, err error) *verifyJSON {
	j := &verifyJSON{Verdict: v.Outcome.Verdict.String(), Reachable: v.Reachable(), Healed: v.Healed}
	if v.Outcome.Observed.IsValid() {
		j.Observed = v.Outcome.Observed.Addr().String()
	}
	if v.NAT != reach.NATUnknown {
		j.NAT = v.NAT.String()
	}
	if err != nil {
		j.Error = safetext.Clean(err.Error(), safetext.Long)
	}
	return j
}

// checkLine is the people's line for one verified mapping.
func checkLine(v mappingJSON) string {
	c := v.Check
	s := fmt.Sprintf("check %s %s: ", v.Protocol, v.External)
	switch {
	case c.Error != "":
		return s + "no verdict: " + c.Error
	case c.Reachable && c.Healed:
		s += "open after re-creating the mapping"
	case c.Reachable:
		s += "open"
	default:
		s += "NOT reachable (" + c.Verdict + ")"
	}
	if c.Observed != "" {
		s += ", seen as " + c.Observed
	}
	if c.NAT == reach.NATUpstream.String() {
		s += "; the checker saw another address than the router's external one: another NAT upstream (UPSTREAM_NAT)"
	}
	return s
}

// checkExit is add's outcome after --check: nil when every checked mapping
// is reachable, exit 6 when one is not, exit 4 when the checker gave no
// verdict.
func checkExit(views []mappingJSON) error {
	var code int
	for _, v := range views {
		switch {
		case v.Check == nil:
		case v.Check.Error != "":
			code = max(code, exitTimeout)
		case !v.Check.Reachable:
			code = max(code, exitUnreachable)
		}
	}
	if code == 0 {
		return nil
	}
	return &exitStatus{code: code}
}

// verifyAdded checks a mapping add just made, before it is detached (Verify
// may re-create it once).
func verifyAdded(ctx context.Context, a *app, o *options, m *upnpmap.Mapping) *verifyJSON {
	stop := a.progress(o, "the checker "+o.checker)
	v, err := m.Verify(ctx)
	stop()
	if err != nil {
		err = explainCheck(err)
	}
	return verificationJSON(v, err)
}

// warnNotListening says when nothing on this machine listens on a mapping's
// internal port: the mapping works, but whoever connects is refused until the
// application starts. Mapping before starting the application is common, so
// this is a warning, not an error, and it says the mapping stays; it is the
// one hint a user gets before a port check from outside fails for this
// reason. It costs one bind attempt on this machine, after the output.
func warnNotListening(a *app, proto string, port uint16, thisMachine bool) {
	if thisMachine && !portHeld(proto, port) {
		a.warn("nothing listens on %s port %d here yet: the mapping stays, but connections from outside are refused until the application starts", proto, port)
	}
}

// portHeld reports whether some socket of this machine holds port: binding
// it fails then. A port this process may not bind (privileged) counts as
// held, so no false warning.
func portHeld(proto string, port uint16) bool {
	addr := ":" + strconv.Itoa(int(port))
	if proto == "udp" {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return true
		}
		pc.Close()
		return false
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return true
	}
	ln.Close()
	return false
}

// startChecks starts run's periodic verification, when --check asks.
func (s *session) startChecks(ctx context.Context) {
	if s.o.checker == "" || s.c == nil {
		return
	}
	s.wg.Add(1)
	go s.checkLoop(ctx)
}

// checkLoop verifies every mapping at once and then every --check-every,
// until the session stops. What Verify finds comes out as the mappings'
// events (verified, unreachable, healed, nothing-listening); a checker that
// gives no verdict is a warning.
func (s *session) checkLoop(ctx context.Context) {
	defer s.wg.Done()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go cancelOnStop(s.stop, cancel)
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, lm := range s.maps {
			if _, err := lm.m.Verify(ctx); err != nil && ctx.Err() == nil {
				s.a.warn("check %s %s: %v", lm.view.Protocol, lm.view.External, explainCheck(err))
			}
		}
		t.Reset(s.o.checkEvery)
	}
}

// cancelOnStop cancels when stop closes (the session shuts down), so that a
// check in flight ends before the mappings are deleted.
func cancelOnStop(stop <-chan struct{}, cancel context.CancelFunc) {
	<-stop
	cancel()
}
