package main

import (
	"context"
	"errors"
	"syscall"

	"github.com/upnpmap/upnpmap"
	"github.com/upnpmap/upnpmap/igd"
	"github.com/upnpmap/upnpmap/internal/udpx"
	"github.com/upnpmap/upnpmap/natpmp"
	"github.com/upnpmap/upnpmap/pcp"
)

// Exit codes, as documented in `upnpmap help` and the README.
const (
	exitOK        = 0
	exitUsage     = 1 // a bad command line, or a local failure (cannot listen, cannot write the state file)
	exitNoGateway = 2 // nothing answered on any method tried
	exitRefused   = 3 // the router answered, and said no (any result code, known or not)
	exitTimeout   = 4 // the router was found (or answered something) but did not answer in time
	exitUnusable  = 5 // a UPnP device answered, but its description is unusable or offers no port mapping
	// exitUnreachable: `upnpmap check` got an answer from the checker, and no
	// address family was reachable.
	exitUnreachable = 6
)

// class is a failure class: one cause, one exit code, one kind of advice.
type class int

const (
	classOther     class = iota // a local failure; exit 1
	classUsage                  // a bad command line; exit 1
	classTimeout                // exit 4
	classNoGateway              // exit 2
	classUnusable               // exit 5
	classRefused                // exit 3
)

var classNames = map[class]string{
	classOther: "local", classUsage: "usage", classTimeout: "timeout",
	classNoGateway: "no-gateway", classUnusable: "unusable-device", classRefused: "refused",
}

func (c class) String() string { return classNames[c] }

func (c class) exitCode() int {
	switch c {
	case classTimeout:
		return exitTimeout
	case classNoGateway:
		return exitNoGateway
	case classUnusable:
		return exitUnusable
	case classRefused:
		return exitRefused
	}
	return exitUsage
}

// exitCode maps an error to the process exit status.
func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	c, _ := classify(err)
	return c.exitCode()
}

// classify finds the failure class of err and the error that decides it
// (for a refusal, the refusing method's error, which the advice is about).
//
// When several methods were tried, their errors are all wrapped, and the
// ranking is: a definite refusal (an answer that says no) wins over an
// unusable device, which wins over a weak refusal (see weakRefusals) and
// over silence. Silence is "no gateway" when
// nothing answered at all, and "timeout" when something did: a router that
// answered one request and then not the next is there, and naming it again
// (--gateway) would not help.
func classify(err error) (class, error) {
	var ue *usageErr
	var ne *netErr
	if errors.As(err, &ue) {
		return classUsage, ue
	}
	// A weak refusal (an answer that did not parse) loses to an unusable
	// device: a description too deep or malformed to read is both, and
	// "the device cannot map" is the better explanation.
	if strength, r := refusalWalk(err); r != nil && (strength > 1 || !errors.Is(err, upnpmap.ErrUnusableDevice)) {
		return classRefused, r
	}
	switch {
	case errors.Is(err, upnpmap.ErrUnusableDevice):
		return classUnusable, err
	case errors.Is(err, upnpmap.ErrNoGateway):
		if errors.As(err, &ne) && len(ne.answered) > 0 {
			return classTimeout, err
		}
		return classNoGateway, err
	case errors.Is(err, upnpmap.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return classTimeout, err
	}
	var me *missingRecordErr
	if errors.As(err, &me) {
		return classUsage, me
	}
	return classOther, err
}

// refusals are the sentinels of answers with which a router says no; the
// protocol packages' typed errors (NAT-PMP/PCP result codes, UPnP error
// codes) unwrap to them.
var refusals = []error{
	upnpmap.ErrNotAuthorized, upnpmap.ErrPortInUse, upnpmap.ErrNoResources, upnpmap.ErrNetworkFailure,
	upnpmap.ErrOnlyPermanentLeases, upnpmap.ErrNoSuchEntry, upnpmap.ErrInvalidArgs, upnpmap.ErrRefused,
	upnpmap.ErrUnsupported, upnpmap.ErrMalformed,
}

// weakRefusals say "not here" more than "no": a method that is not
// available, or an answer that did not parse. Another branch's definite
// answer is the better explanation.
var weakRefusals = []error{upnpmap.ErrUnsupported, upnpmap.ErrMalformed}

// refusalIn returns the part of err that is a definite refusal, or nil. It
// walks the whole tree of wrapped errors (a failed Map wraps each method's
// error), so a refusal from one method is found beside another's silence.
// Strongest first: an answer carrying a result code, then a refusal
// sentinel, then the weak ones.
func refusalIn(err error) error {
	_, best := refusalWalk(err)
	return best
}

// refusalWalk returns the strength of the strongest refusal under err (0:
// none, 1: weak sentinel, 2: sentinel, 3: a result code) and that refusal.
func refusalWalk(err error) (int, error) {
	if err == nil || otherProtocol(err) {
		return 0, nil
	}
	switch err.(type) {
	case *natpmp.ResultError, *pcp.ResultError, *igd.UPnPError:
		return 3, err
	}
	for _, s := range weakRefusals {
		if err == s {
			return 1, err
		}
	}
	for _, s := range refusals {
		if err == s {
			return 2, err
		}
	}
	kids := unwrapAll(err)
	if len(kids) > 1 && closedPort(kids) {
		return 0, nil
	}
	var best error
	strength := 0
	for _, k := range kids {
		if s, r := refusalWalk(k); s > strength {
			best, strength = r, s
		}
	}
	return strength, best
}

// otherProtocol reports an answer that means "this method is not spoken
// here" rather than "no": a PCP server that speaks only NAT-PMP, a NAT-PMP
// request answered by a PCP-only server. Another method is then the one
// whose answer counts.
func otherProtocol(err error) bool {
	if err == pcp.ErrSpeaksNATPMP {
		return true
	}
	switch e := err.(type) {
	case *natpmp.ResultError:
		return e.Code == natpmp.UnsupportedVersion
	case *pcp.ResultError:
		return e.Code == pcp.UnsuppVersion
	}
	return false
}

// closedPort reports whether a group of wrapped errors describes a closed
// port (ICMP port unreachable): the protocol packages wrap
// ErrUnsupported together with the socket error then, and that is silence
// of a kind, not an answer.
func closedPort(kids []error) bool {
	for _, k := range kids {
		if errors.Is(k, udpx.ErrRefused) || errors.Is(k, syscall.ECONNREFUSED) {
			for _, o := range kids {
				if o == upnpmap.ErrUnsupported {
					return true
				}
			}
		}
	}
	return false
}

// unwrapAll returns the errors err wraps, one or many.
func unwrapAll(err error) []error {
	switch u := err.(type) {
	case interface{ Unwrap() []error }:
		return u.Unwrap()
	case interface{ Unwrap() error }:
		if e := u.Unwrap(); e != nil {
			return []error{e}
		}
	}
	return nil
}
