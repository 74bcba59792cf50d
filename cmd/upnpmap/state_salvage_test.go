package main

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// damagedStateCases are files as a crash, a full disk or an editor leave
// them, with the mapping records (external ports) a user should get back.
func damagedStateCases(t *testing.T) map[string]struct {
	content []byte
	keep    []uint16
} {
	t.Helper()
	s := &state{Version: stateVersion}
	for _, p := range []uint16{8080, 8081, 8082} {
		s.put(testRecord(p, time.Time{}))
	}
	good, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	// Cut inside the third record: the first two are whole.
	third := bytes.LastIndex(good, []byte(`"gateway"`))
	return map[string]struct {
		content []byte
		keep    []uint16
	}{
		"garbage":   {[]byte("\x00\x17{garbage"), nil},
		"truncated": {good[:third+5], []uint16{8080, 8081}},
		"future field": {bytes.Replace(good, []byte(`"version": 1`), []byte(`"version": 1, "owner": "x"`), 1),
			[]uint16{8080, 8081, 8082}},
		"one bad record": {bytes.Replace(good, []byte(`"tcp"`), []byte(`"sctp"`), 1), []uint16{8081, 8082}},
	}
}

// TestStateDamagedFileMovedAside: an update that finds the state file
// damaged moves it to state.json.corrupt-<time> (byte for byte), keeps the
// records that can still be read, adds its own, and says where the old
// file went.
func TestStateDamagedFileMovedAside(t *testing.T) {
	for name, tc := range damagedStateCases(t) {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, stateFileName)
			if err := os.WriteFile(path, tc.content, 0o600); err != nil {
				t.Fatal(err)
			}
			var stderr strings.Builder
			a := &app{stdout: io.Discard, stderr: &stderr, cacheDir: dir}
			if err := a.updateState(func(s *state) { s.put(testRecord(9000, time.Time{})) }); err != nil {
				t.Fatal(err)
			}
			aside := onlyCorruptFile(t, dir)
			if b, _ := os.ReadFile(aside); !bytes.Equal(b, tc.content) {
				t.Errorf("moved-aside file differs from the damaged one")
			}
			if !strings.Contains(stderr.String(), aside) {
				t.Errorf("warning does not say where the old file went (%s):\n%s", aside, &stderr)
			}
			got, err := loadState(path)
			if err != nil {
				t.Fatalf("state file after recovery: %v", err)
			}
			want := append(append([]uint16(nil), tc.keep...), 9000)
			if p := ports(got); !slicesEqual(p, want) {
				t.Errorf("records after recovery: ports %v, want %v", p, want)
			}
		})
	}
}

// TestStateDamagedFileOnRead: `upnpmap list` (a read) finding a damaged
// file also moves it aside and keeps the salvage, so that a later write
// cannot drop the readable records.
func TestStateDamagedFileOnRead(t *testing.T) {
	tc := damagedStateCases(t)["truncated"]
	dir := t.TempDir()
	path := filepath.Join(dir, stateFileName)
	if err := os.WriteFile(path, tc.content, 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	a := &app{stdout: io.Discard, stderr: &stderr, cacheDir: dir}
	if p := ports(a.readState()); !slicesEqual(p, tc.keep) {
		t.Errorf("read of a truncated file: ports %v, want %v", p, tc.keep)
	}
	aside := onlyCorruptFile(t, dir)
	if !strings.Contains(stderr.String(), aside) {
		t.Errorf("warning does not name %s:\n%s", aside, &stderr)
	}
	if got, err := loadState(path); err != nil || !slicesEqual(ports(got), tc.keep) {
		t.Errorf("state file after the read: %v, %v; want the salvaged records", ports(got), err)
	}
}

// TestStateUnreadableFileLeftAlone: a state file that cannot be read at all
// (here a directory in its place) is not overwritten; the update fails and
// says so.
func TestStateUnreadableFileLeftAlone(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, stateFileName)
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	a := &app{stdout: io.Discard, stderr: io.Discard, cacheDir: dir}
	err := a.updateState(func(s *state) { s.put(testRecord(80, time.Time{})) })
	if err == nil || !strings.Contains(err.Error(), "not updated") {
		t.Errorf("update over an unreadable file: %v; want an error", err)
	}
	if fi, err := os.Stat(path); err != nil || !fi.IsDir() {
		t.Errorf("the unreadable file was replaced")
	}
}

// TestStateMoveAsideNeverReplaces: two damaged files moved aside in the same
// second get distinct names.
func TestStateMoveAsideNeverReplaces(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, stateFileName)
	now := time.Now()
	var names []string
	for i := range 2 {
		if err := os.WriteFile(path, []byte{byte('a' + i)}, 0o600); err != nil {
			t.Fatal(err)
		}
		name, err := moveAside(path, now)
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	if names[0] == names[1] {
		t.Fatalf("both moved to %s", names[0])
	}
	for i, n := range names {
		if b, _ := os.ReadFile(n); string(b) != string(rune('a'+i)) {
			t.Errorf("%s holds %q", n, b)
		}
	}
}

func onlyCorruptFile(t *testing.T, dir string) string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, stateFileName+corruptSuffix+"*"))
	if len(m) != 1 {
		t.Fatalf("moved-aside files: %v, want one", m)
	}
	return m[0]
}

func slicesEqual(a, b []uint16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// FuzzSalvageState: salvage reads damaged files, so anything may reach it;
// it must not panic, and every record it keeps must pass the checks a good
// file's records pass.
func FuzzSalvageState(f *testing.F) {
	f.Add([]byte(`{"version":1,"mappings":[{"gateway":"192.168.1.1","method":"pcp","protocol":"tcp","external":"203.0.113.7:80","internal":"192.168.1.2:80","nonce":"00112233445566778899aabb","created":"2025-01-01T00:00:00Z"},{"gateway":"192.168`))
	f.Add([]byte(`{"x":[1,2,{"y":null}],"gateways":{"default":{"gateway":"192.168.1.1","location":"http://192.168.1.1/d.xml","seen":"2025-01-01T00:00:00Z"},"b":7},"mappings":[null,3,"a"]}`))
	f.Add([]byte("\x00{garbage"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s := salvageState(b)
		if s.Version != stateVersion || len(s.Mappings) > maxStateLength {
			t.Fatalf("salvage: version %d, %d records", s.Version, len(s.Mappings))
		}
		for _, m := range s.Mappings {
			if err := m.check(); err != nil {
				t.Fatalf("salvaged a record that fails check: %v", err)
			}
		}
		for _, g := range s.Gateways {
			if !g.Gateway.IsValid() {
				t.Fatal("salvaged a gateway without an address")
			}
		}
	})
}
