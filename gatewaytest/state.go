package gatewaytest

import (
	"net/netip"
	"time"
)

// state is everything the protocol handlers read and write, guarded by
// Gateway.mu. Reboot resets the table and the epoch; the knobs survive it
// (they describe the router model, not its memory).
type state struct {
	table  table
	fw     firewall // UPnP IPv6 pinholes
	ext    netip.Addr
	origin time.Time // start of the epoch
	boots  int       // BOOTID.UPNP.ORG: 1, then +1 per Reboot

	silent   map[string]bool
	mapQuiet map[string]bool // SetMapSilent
	delay    map[string]time.Duration
	result   map[string]int
	fail     map[string]int    // SOAP action -> UPnP error code
	failText map[string]string // SOAP action -> errorDescription (FailActionText)
	decoy    string
	location string // SetLocationHost
	static   bool   // SetSSDPFromStatic
	requests map[string]int
	down     map[string]bool // SetServiceDown: control path -> WAN down

	backwards bool   // Config.EpochBackwards
	lastEpoch uint32 // the last epoch sent, when backwards

	wan wanKnobs // SetConnectionType, SetConnectionStatus, SetLinkStatus
}

func newState(cfg Config, emit func(ChangeKind, string, *Mapping)) state {
	return state{
		table:     table{max: cfg.MaxMappings, emit: emit},
		ext:       cfg.ExternalAddr,
		origin:    cfg.Now(),
		boots:     1,
		silent:    make(map[string]bool),
		mapQuiet:  make(map[string]bool),
		delay:     make(map[string]time.Duration),
		result:    make(map[string]int),
		fail:      make(map[string]int),
		failText:  make(map[string]string),
		requests:  make(map[string]int),
		backwards: cfg.EpochBackwards,
		lastEpoch: epochBackwardsStart,
	}
}

// epochBackwardsStart is the first epoch of a gateway whose epoch goes
// backwards (Config.EpochBackwards); each answer takes epochBackwardsStep
// off it, far more than any client's slack.
const (
	epochBackwardsStart = 1 << 30
	epochBackwardsStep  = 3600
)

// epoch is the seconds-since-start-of-epoch value of NAT-PMP and PCP. The
// two share it, as in miniupnpd.
func (s *state) epoch(now time.Time) uint32 {
	if s.backwards {
		s.lastEpoch -= epochBackwardsStep
		return s.lastEpoch
	}
	d := now.Sub(s.origin)
	if d < 0 {
		return 0
	}
	return uint32(d / time.Second)
}

// hasExternal reports whether the gateway has a usable external address.
func (s *state) hasExternal() bool {
	return s.ext.IsValid() && !s.ext.IsUnspecified()
}

// ext4 is the external address as 4 bytes (zeros when there is none).
func (s *state) ext4() [4]byte {
	if !s.ext.Unmap().Is4() {
		return [4]byte{}
	}
	return s.ext.Unmap().As4()
}
