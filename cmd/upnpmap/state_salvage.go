package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"time"
)

// A state file that does not parse (a full disk, an editor, a crash on a
// file system that does not order writes) is never silently replaced: it is
// renamed to state.json.corrupt-<UTC time>, the records that can still be
// read from it are written to a fresh state.json, and the user is told both.

// stateDamage is the error loadState returns for a file that did not parse;
// the state returned with it holds what could be salvaged.
type stateDamage struct {
	path  string
	cause error
	kept  int    // records salvaged
	aside string // where the damaged file went; "" until moved
}

func (d *stateDamage) Error() string {
	msg := fmt.Sprintf("%s is damaged (%v)", d.path, d.cause)
	if d.aside != "" {
		msg += fmt.Sprintf("; moved it to %s and kept the %d mapping record(s) that could be read", d.aside, d.kept)
	}
	return msg
}

func (d *stateDamage) Unwrap() error { return d.cause }

// corruptSuffix and corruptTimeLayout name a damaged file moved aside:
// state.json.corrupt-20261205T190102Z. The layout has no colons, which
// Windows forbids in file names.
const (
	corruptSuffix     = ".corrupt-"
	corruptTimeLayout = "20060102T150405Z"
	// maxCorruptNames bounds the search for a free name when several
	// damaged files are moved aside within one second.
	maxCorruptNames = 100
)

// moveAside renames the file at path to a timestamped name beside it and
// returns that name. It never replaces an existing file. The caller holds
// the state lock, so no other upnpmap races for the same name.
func moveAside(path string, now time.Time) (string, error) {
	base := path + corruptSuffix + now.UTC().Format(corruptTimeLayout)
	for i := 1; i <= maxCorruptNames; i++ {
		name := base
		if i > 1 {
			name += "-" + strconv.Itoa(i)
		}
		if _, err := os.Lstat(name); !errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err := os.Rename(path, name); err != nil {
			return "", err
		}
		return name, nil
	}
	return "", fmt.Errorf("no free name like %s", base)
}

// salvageState reads what it can from a damaged state file: the mapping
// records and gateway entries that decode and pass their checks, up to the
// first point where the JSON itself breaks (a truncated file keeps every
// record before the cut). Unknown fields are tolerated here, unlike in
// parseState: a record is kept for what it says, not for how it is spelled.
func salvageState(b []byte) *state {
	s := &state{Version: stateVersion}
	if len(b) > maxStateSize {
		b = b[:maxStateSize]
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if !expectDelim(dec, '{') {
		return s
	}
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return s
		}
		switch key {
		case "mappings":
			if !salvageMappings(dec, s) {
				return s
			}
		case "gateways":
			if !salvageGateways(dec, s) {
				return s
			}
		default:
			var skip json.RawMessage
			if dec.Decode(&skip) != nil {
				return s
			}
		}
	}
	return s
}

// salvageMappings reads the "mappings" array, keeping the records that
// pass check. It reports whether the decoder is still usable.
func salvageMappings(dec *json.Decoder, s *state) bool {
	if !expectDelim(dec, '[') {
		return false
	}
	for dec.More() {
		var raw json.RawMessage
		if dec.Decode(&raw) != nil {
			return false
		}
		var m stateMapping
		if json.Unmarshal(raw, &m) == nil && m.check() == nil && len(s.Mappings) < maxStateLength {
			s.put(m)
		}
	}
	return expectDelim(dec, ']')
}

// salvageGateways reads the "gateways" object, keeping entries with an
// address.
func salvageGateways(dec *json.Decoder, s *state) bool {
	if !expectDelim(dec, '{') {
		return false
	}
	for dec.More() {
		k, err := dec.Token()
		key, ok := k.(string)
		if err != nil || !ok {
			return false
		}
		var raw json.RawMessage
		if dec.Decode(&raw) != nil {
			return false
		}
		var g gatewayCache
		if json.Unmarshal(raw, &g) == nil && g.Gateway.IsValid() {
			if s.Gateways == nil {
				s.Gateways = make(map[string]gatewayCache)
			}
			s.Gateways[key] = g
		}
	}
	return expectDelim(dec, '}')
}

func expectDelim(dec *json.Decoder, want json.Delim) bool {
	t, err := dec.Token()
	d, ok := t.(json.Delim)
	return err == nil && ok && d == want
}
