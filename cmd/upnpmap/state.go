package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/upnpmap/upnpmap"
)

// The state file remembers what earlier runs of upnpmap left on routers, so
// that `upnpmap delete` can remove a PCP mapping (PCP deletes need the nonce
// of the request that created it) and `upnpmap list` can show PCP and NAT-PMP
// mappings (neither protocol can list a router's table). It also caches each
// gateway's UPnP description URL, so that the next run can skip the SSDP
// search (the front door fetches and checks the URL before trusting it).
//
// It lives in os.UserCacheDir()/upnpmap/state.json: losing it costs a
// search and, at worst, a PCP mapping that stays until its lease ends.

const (
	stateFileName  = "state.json" // beside it: state.json.lock (state_lock.go)
	stateVersion   = 1
	maxStateSize   = 1 << 20            // a state file is a few KiB; anything bigger is not ours
	maxStateLength = 1000               // mappings kept at most
	locationMaxAge = 7 * 24 * time.Hour // forget description URLs not confirmed for a week
)

type state struct {
	Version  int                     `json:"version"`
	Mappings []stateMapping          `json:"mappings"`
	Gateways map[string]gatewayCache `json:"gateways,omitempty"`
}

// stateMapping is one mapping a one-shot `upnpmap add` left on a router.
type stateMapping struct {
	Gateway     netip.Addr     `json:"gateway"`
	Method      string         `json:"method"`   // pcp, natpmp, upnp; ssh: a tunnel (Gateway is the ssh server)
	Protocol    string         `json:"protocol"` // tcp, udp
	External    netip.AddrPort `json:"external"`
	Internal    netip.AddrPort `json:"internal"`
	Nonce       string         `json:"nonce,omitempty"` // PCP only, hex
	Description string         `json:"description,omitempty"`
	Expires     time.Time      `json:"expires,omitzero"` // zero = permanent
	Created     time.Time      `json:"created"`
	// PinholeID is a UPnP IPv6 pinhole's UniqueID, and Location the IPv6
	// description URL its firewall service was reached at.
	PinholeID uint16 `json:"pinhole_id,omitempty"`
	Location  string `json:"location,omitempty"`
	// PID is the process that keeps the mapping alive (run, add --relay,
	// a tunnel): a tunnel (method ssh) lives as long as that process's SSH
	// connection, so delete stops it; a live process's router mapping is
	// not adopted by another run (run_adopt.go). Zero for a one-shot add.
	PID int `json:"pid,omitempty"`
	// Upstream is the upstream router's leg of a mapping chained through a
	// double NAT (Gateway is that router, Internal the home router's WAN
	// address and port); `delete` removes it with the mapping.
	Upstream *stateMapping `json:"upstream,omitempty"`
}

// upstreamRecord is the record of m's upstream leg, or nil when m is not
// chained.
func upstreamRecord(m *upnpmap.Mapping, proto string, created time.Time) *stateMapping {
	legs := m.Legs()
	if len(legs) < 2 {
		return nil
	}
	l := legs[1]
	rec := &stateMapping{Gateway: l.Router, Method: string(l.Method), Protocol: proto, External: l.External,
		Internal: l.Internal, Expires: l.Expires, Created: created}
	if l.Method == upnpmap.PCP {
		rec.Nonce = hex.EncodeToString(l.Delete.Nonce[:])
	}
	return rec
}

// pinhole says whether the record is an IPv6 pinhole (its internal address
// is IPv6), which shares its port with the IPv4 mapping made with it.
func (m stateMapping) pinhole() bool {
	a := m.Internal.Addr()
	return a.Is6() && !a.Is4In6()
}

// gatewayCache is what we know about a gateway between runs. The key in
// state.Gateways is the gateway address given with --gateway, or "default"
// for the one found from the routing table.
type gatewayCache struct {
	Gateway  netip.Addr `json:"gateway"`
	Location string     `json:"location,omitempty"` // UPnP device description URL
	Seen     time.Time  `json:"seen"`
}

// defaultGatewayKey is the cache key when no --gateway was given.
const defaultGatewayKey = "default"

// statePath is the state file's path, creating nothing.
func (a *app) statePath() (string, error) {
	dir := a.cacheDir
	if dir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return "", fmt.Errorf("no cache directory for the state file: %w", err)
		}
		dir = filepath.Join(base, "upnpmap")
	}
	return filepath.Join(dir, stateFileName), nil
}

// loadState reads the state file without locking or changing it. A missing
// file is an empty state. A file that does not parse yields a *stateDamage
// error together with what could be salvaged from it; any other error (the
// file could not be read) comes with an empty state, which must not be
// written over the unread file.
func loadState(path string) (*state, error) {
	s := &state{Version: stateVersion}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return s, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxStateSize+1))
	if err != nil {
		return s, err
	}
	got, err := parseState(b)
	if err != nil {
		salvaged := salvageState(b)
		return salvaged, &stateDamage{path: path, cause: err, kept: len(salvaged.Mappings)}
	}
	return got, nil
}

// parseState decodes a state file strictly: one JSON object of the current
// version, no unknown fields, nothing after it, values that make sense.
func parseState(b []byte) (*state, error) {
	if len(b) > maxStateSize {
		return nil, fmt.Errorf("larger than %d bytes", maxStateSize)
	}
	var got state
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("data after the state object")
	}
	if got.Version != stateVersion {
		return nil, fmt.Errorf("version %d, want %d", got.Version, stateVersion)
	}
	for _, m := range got.Mappings {
		if err := m.check(); err != nil {
			return nil, err
		}
	}
	return &got, nil
}

// check rejects a record that could not have been written by us, so that a
// damaged file never turns into a delete request for a stranger's mapping.
func (m stateMapping) check() error {
	switch {
	case m.Method != "pcp" && m.Method != "natpmp" && m.Method != "upnp" && m.Method != "ssh":
		return fmt.Errorf("mapping with unknown method %q", m.Method)
	case m.Protocol != "tcp" && m.Protocol != "udp":
		return fmt.Errorf("mapping with unknown protocol %q", m.Protocol)
	case !m.Gateway.IsValid() || m.External.Port() == 0:
		return errors.New("mapping without gateway or external port")
	case m.Nonce != "" && len(m.Nonce) != 24:
		return fmt.Errorf("mapping with a %d-digit nonce, want 24", len(m.Nonce))
	}
	if m.Nonce != "" {
		if _, err := hex.DecodeString(m.Nonce); err != nil {
			return fmt.Errorf("mapping nonce: %v", err)
		}
	}
	return nil
}

// save writes the state atomically: the new content goes to a temporary
// file in the same directory, which is flushed to disk and then renamed over
// the old file. A reader sees the old file or the new one, never half of one
// — after a crash too, since the content is on disk before the name points
// at it. The directory is flushed after the rename, so that the new name
// (not only the new content) survives a power cut: a `delete` that returned
// has its record gone for good, and an `add` its record kept. That flush
// costs a journal commit (1 to 7 ms in the lab) and is paid on every write
// (issue 21: "fsync the file and the directory"). Concurrent writers must
// hold the state lock.
func (s *state) save(path string) error {
	if err := ensureStateDir(path); err != nil {
		return err
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".state-*.json")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(append(b, '\n'))
	serr := tmp.Sync()
	cerr := tmp.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return flushDir(filepath.Dir(path))
}

// prune drops expired mappings, stale description URLs, and the oldest
// mappings beyond the cap.
func (s *state) prune(now time.Time) {
	s.Mappings = slices.DeleteFunc(s.Mappings, func(m stateMapping) bool {
		return !m.Expires.IsZero() && !m.Expires.After(now)
	})
	if n := len(s.Mappings) - maxStateLength; n > 0 {
		s.Mappings = s.Mappings[n:]
	}
	for k, g := range s.Gateways {
		if now.Sub(g.Seen) > locationMaxAge {
			delete(s.Gateways, k)
		}
	}
}

// put records m, replacing an older record of the same external port,
// protocol and gateway (a renewed or re-added mapping).
func (s *state) put(m stateMapping) {
	s.Mappings = slices.DeleteFunc(s.Mappings, func(o stateMapping) bool { return o.sameSlot(m) })
	s.Mappings = append(s.Mappings, m)
}

// remove drops the records for which match is true.
func (s *state) remove(match func(stateMapping) bool) {
	s.Mappings = slices.DeleteFunc(s.Mappings, match)
}

func (m stateMapping) sameSlot(o stateMapping) bool {
	return m.Gateway == o.Gateway && m.Protocol == o.Protocol && m.External.Port() == o.External.Port() &&
		m.pinhole() == o.pinhole()
}

// location returns the cached description URL for a gateway key.
func (s *state) location(key string) string {
	return s.Gateways[key].Location
}

// setLocation records the description URL (and address) a gateway was last
// reached at.
func (s *state) setLocation(key string, gw netip.Addr, loc string, now time.Time) {
	if s.Gateways == nil {
		s.Gateways = make(map[string]gatewayCache)
	}
	s.Gateways[key] = gatewayCache{Gateway: gw, Location: loc, Seen: now}
}

// readState loads the state for reading; problems become warnings. It
// takes the lock when it can, so that a damaged file is moved aside by one
// process only; a read without the lock (a read-only cache directory) is
// still consistent, since writers replace the file by renaming.
func (a *app) readState() *state {
	path, err := a.statePath()
	if err != nil {
		a.warn("%v", err)
		return &state{Version: stateVersion}
	}
	t0 := time.Now()
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		// Nothing to read: create neither the directory nor a lock file.
		return &state{Version: stateVersion}
	}
	release, lerr := lockState(path)
	if lerr == nil {
		defer release()
	}
	s, err := loadState(path)
	var damage *stateDamage
	switch {
	case errors.As(err, &damage) && lerr == nil:
		if rerr := recoverState(path, s, damage); rerr != nil {
			a.warn("state file: %v", rerr)
		} else {
			a.warn("state file: %v", damage)
		}
	case err != nil:
		a.warn("state file: %v", err)
	}
	s.prune(time.Now())
	a.debug("state file read", "path", path, "records", len(s.Mappings), "took", time.Since(t0))
	return s
}

// debug logs one of the CLI's own steps for -v.
func (a *app) debug(msg string, args ...any) {
	if a.log != nil {
		a.log.Debug(msg, args...)
	}
}

// updateState applies change to the state file: it takes the lock, loads
// the file afresh, applies change and writes the result, so that upnpmap
// processes running at once never lose each other's records. A damaged
// file is moved aside (with a warning saying where) and its salvage
// updated; a file that cannot be read is left alone and the update fails.
func (a *app) updateState(change func(*state)) error {
	path, err := a.statePath()
	if err != nil {
		return err
	}
	t0 := time.Now()
	if err := ensureStateDir(path); err != nil {
		return err
	}
	release, err := lockState(path)
	if err != nil {
		return err
	}
	defer release()
	s, err := loadState(path)
	var damage *stateDamage
	switch {
	case errors.As(err, &damage):
		if err := recoverState(path, s, damage); err != nil {
			return err
		}
		a.warn("state file: %v", damage)
	case err != nil:
		return fmt.Errorf("%s not updated: %w", path, err)
	}
	s.prune(time.Now())
	change(s)
	err = s.save(path)
	a.debug("state file written", "path", path, "records", len(s.Mappings), "took", time.Since(t0), "err", err)
	return err
}

// recoverState moves a damaged state file aside and writes what was
// salvaged from it in its place. The caller holds the state lock. If the
// file cannot be moved, nothing is written: the damaged file stays for the
// user to look at, and the error says so.
func recoverState(path string, salvaged *state, damage *stateDamage) error {
	aside, err := moveAside(path, time.Now())
	if err != nil {
		return fmt.Errorf("%v; left it in place, could not move it aside: %w", damage, err)
	}
	damage.aside = aside
	if err := salvaged.save(path); err != nil {
		return fmt.Errorf("%v; writing the salvaged records failed: %w", damage, err)
	}
	return nil
}
