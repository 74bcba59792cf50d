package main

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func testRecord(port uint16, expires time.Time) stateMapping {
	return stateMapping{
		Gateway:  netip.MustParseAddr("192.168.1.1"),
		Method:   "pcp",
		Protocol: "tcp",
		External: netip.AddrPortFrom(netip.MustParseAddr("203.0.113.7"), port),
		Internal: netip.AddrPortFrom(netip.MustParseAddr("192.168.1.20"), port),
		Nonce:    "00112233445566778899aabb",
		Expires:  expires,
		Created:  time.Now().UTC().Truncate(time.Second),
	}
}

func TestStateRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", stateFileName)
	now := time.Now()
	s, err := loadState(path)
	if err != nil || len(s.Mappings) != 0 {
		t.Fatalf("missing file: got %+v, %v; want an empty state", s, err)
	}
	s.put(testRecord(8080, now.Add(time.Hour).UTC().Truncate(time.Second)))
	s.put(testRecord(9090, time.Time{})) // permanent
	s.setLocation(defaultGatewayKey, netip.MustParseAddr("192.168.1.1"), "http://192.168.1.1:5000/rootDesc.xml", now)
	if err := s.save(path); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Dir(path))
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("state directory mode = %v, %v; want 0700 (it holds PCP nonces)", fi.Mode().Perm(), err)
	}
	got, err := loadState(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Mappings) != 2 || got.Mappings[0] != s.Mappings[0] || got.Mappings[1] != s.Mappings[1] {
		t.Errorf("round trip: got %+v, want %+v", got.Mappings, s.Mappings)
	}
	if loc := got.location(defaultGatewayKey); loc != "http://192.168.1.1:5000/rootDesc.xml" {
		t.Errorf("cached location = %q", loc)
	}
	// Re-adding the same slot replaces the record instead of duplicating it.
	got.put(testRecord(8080, now.Add(2*time.Hour)))
	if len(got.Mappings) != 2 {
		t.Errorf("put of an existing slot: %d records, want 2", len(got.Mappings))
	}
	if m, ok := got.find(netip.MustParseAddr("192.168.1.1"), "tcp", 8080); !ok || !m.Expires.After(now.Add(time.Hour+time.Minute)) {
		t.Errorf("find after replace = %+v, %v", m, ok)
	}
	if _, ok := got.find(netip.MustParseAddr("192.168.1.1"), "udp", 8080); ok {
		t.Error("find matched the wrong protocol")
	}
	if _, ok := got.find(netip.MustParseAddr("10.0.0.1"), "tcp", 8080); ok {
		t.Error("find matched the wrong gateway")
	}
}

func TestStatePrune(t *testing.T) {
	now := time.Now()
	s := &state{Version: stateVersion}
	s.put(testRecord(1, now.Add(-time.Second))) // expired
	s.put(testRecord(2, now.Add(time.Minute)))
	s.put(testRecord(3, time.Time{})) // permanent: kept until deleted
	s.setLocation("old", netip.MustParseAddr("10.0.0.1"), "http://10.0.0.1/x.xml", now.Add(-locationMaxAge-time.Hour))
	s.setLocation("new", netip.MustParseAddr("10.0.0.2"), "http://10.0.0.2/x.xml", now)
	s.prune(now)
	var ports []uint16
	for _, m := range s.Mappings {
		ports = append(ports, m.External.Port())
	}
	if len(ports) != 2 || ports[0] != 2 || ports[1] != 3 {
		t.Errorf("after prune: ports %v, want [2 3]", ports)
	}
	if s.location("old") != "" || s.location("new") == "" {
		t.Errorf("after prune: locations %+v; want only the fresh one", s.Gateways)
	}
}

func TestStateRejectsDamagedFiles(t *testing.T) {
	good := `{"version":1,"mappings":[{"gateway":"192.168.1.1","method":"pcp","protocol":"tcp","external":"203.0.113.7:80","internal":"192.168.1.2:80","nonce":"00112233445566778899aabb","created":"2025-01-01T00:00:00Z"}]}`
	if _, err := parseState([]byte(good)); err != nil {
		t.Fatalf("good file rejected: %v", err)
	}
	for name, in := range map[string]string{
		"not json":      "hello",
		"old version":   strings.Replace(good, `"version":1`, `"version":0`, 1),
		"unknown field": strings.Replace(good, `"version":1`, `"version":1,"x":2`, 1),
		"bad method":    strings.Replace(good, `"pcp"`, `"ftp"`, 1),
		"bad protocol":  strings.Replace(good, `"tcp"`, `"sctp"`, 1),
		"short nonce":   strings.Replace(good, `00112233445566778899aabb`, `0011`, 1),
		"bad nonce":     strings.Replace(good, `00112233445566778899aabb`, `zz112233445566778899aabb`, 1),
		"port zero":     strings.Replace(good, `203.0.113.7:80`, `203.0.113.7:0`, 1),
		"trailing data": good + "{}",
		"too big":       good + strings.Repeat(" ", maxStateSize),
	} {
		if _, err := parseState([]byte(in)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// A damaged file on disk is reported and replaced by an empty state.
	path := filepath.Join(t.TempDir(), stateFileName)
	os.WriteFile(path, []byte("{garbage"), 0o600)
	s, err := loadState(path)
	if err == nil || s == nil || len(s.Mappings) != 0 {
		t.Errorf("damaged file: got %+v, %v; want an empty state and an error", s, err)
	}
}

// FuzzParseState: the state file is read back from disk, where anything may
// have happened to it; the parser must not panic, and what it accepts must
// pass its own checks.
func FuzzParseState(f *testing.F) {
	f.Add([]byte(`{"version":1,"mappings":[]}`))
	f.Add([]byte(`{"version":1,"mappings":[{"gateway":"192.168.1.1","method":"pcp","protocol":"tcp","external":"203.0.113.7:80","internal":"192.168.1.2:80","nonce":"00112233445566778899aabb","created":"2025-01-01T00:00:00Z"}],"gateways":{"default":{"gateway":"192.168.1.1","location":"http://192.168.1.1:5000/d.xml","seen":"2025-01-01T00:00:00Z"}}}`))
	f.Add([]byte(`{"version":1,"mappings":null}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := parseState(b)
		if err != nil {
			return
		}
		for _, m := range s.Mappings {
			if err := m.check(); err != nil {
				t.Fatalf("accepted a record that fails check: %v", err)
			}
		}
		s.prune(time.Now())
	})
}

// TestStateSaveDirSync: every save — the first, which creates the file, and
// each one that replaces it — flushes the file before the rename and the
// directory after it (issue 21: "writes fsync the file and the directory"),
// so that the new name survives a power cut; a replaced file keeps no old
// content and no temporary file is left.
func TestStateSaveDirSync(t *testing.T) {
	var flushed []string
	t.Cleanup(func() { flushDir = syncDir })
	flushDir = func(dir string) error {
		flushed = append(flushed, dir)
		return syncDir(dir)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, stateFileName)
	s := &state{Version: stateVersion}
	s.put(testRecord(8080, time.Time{}))
	if err := s.save(path); err != nil {
		t.Fatal(err)
	}
	if len(flushed) != 1 || flushed[0] != dir {
		t.Fatalf("first save flushed %q, want the directory %s once", flushed, dir)
	}
	s.put(testRecord(9090, time.Time{}))
	if err := s.save(path); err != nil {
		t.Fatal(err)
	}
	if len(flushed) != 2 || flushed[1] != dir {
		t.Fatalf("replacing the file flushed %q, want the directory again", flushed)
	}
	got, err := loadState(path)
	if err != nil || len(got.Mappings) != 2 {
		t.Fatalf("after the second save: %+v, %v; want both records", got, err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 1 {
		t.Errorf("directory holds %v (%v); want the state file alone", entries, err)
	}
}
