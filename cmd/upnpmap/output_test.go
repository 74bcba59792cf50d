package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/upnpmap/upnpmap/internal/safetext"
)

// FuzzJSONRouterText: whatever text a router sends, --json output stays one
// valid JSON line that decodes to the same text (capped), with no rune a
// terminal would act on left raw.
func FuzzJSONRouterText(f *testing.F) {
	for _, s := range []string{"", "plain", "evil\u202etxt.exe", "\x1b[31mred\u009b", "a\nb\tc", "\xff\xfe", "😀\u2066x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var buf bytes.Buffer
		p := &printer{w: &buf, json: true}
		if err := p.object(entryJSON{Description: capText(s)}); err != nil {
			t.Fatal(err)
		}
		out := buf.Bytes()
		if bytes.Count(out, []byte("\n")) != 1 || out[len(out)-1] != '\n' {
			t.Fatalf("not one line: %q", out)
		}
		for _, r := range string(out[:len(out)-1]) {
			if r < 0x20 || (r >= utf8.RuneSelf && !safetext.Printable(r)) {
				t.Fatalf("raw %U in %q", r, out)
			}
		}
		var back entryJSON
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("invalid JSON %q: %v", out, err)
		}
		want := strings.ToValidUTF8(capText(s), "\uFFFD")
		if utf8.ValidString(s) && back.Description != want {
			t.Fatalf("decoded %q, want %q", back.Description, want)
		}
		if n := utf8.RuneCountInString(back.Description); n > safetext.Long {
			t.Fatalf("%d runes: not capped", n)
		}
	})
}
