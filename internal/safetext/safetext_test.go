package safetext

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestClean(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"plain", "ConflictInMappingEntry", "ConflictInMappingEntry"},
		{"escape sequence", "bad\x1b[2J\x1b]0;pwned\x07 answer", "bad[2J]0;pwned answer"},
		{"bidi override", "file\u202Etxt.exe", "filetxt.exe"},
		{"isolates and marks", "a\u2066b\u2069c\u200Fd", "abcd"},
		{"C1 controls", "x\u0085y\u009bz", "x yz"},
		{"newlines folded", "line one\r\n\tline two\n", "line one line two"},
		{"invalid utf-8", "ok\xff\xfe!", "ok!"},
		{"leading space", "   padded  ", "padded"},
		{"zero width", "pay\u200Bpal", "paypal"},
		{"non-BMP kept", "router 🚀", "router 🚀"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Clean(tc.in, Short); got != tc.want {
				t.Errorf("Clean(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestCleanCaps(t *testing.T) {
	huge := strings.Repeat("A", 60000)
	got := Clean(huge, Short)
	if n := utf8.RuneCountInString(got); n != Short {
		t.Fatalf("capped to %d runes, want %d", n, Short)
	}
	if !strings.HasSuffix(got, "…") {
		t.Errorf("a cut string must end in an ellipsis: %q", got[len(got)-8:])
	}
	exact := strings.Repeat("b", Short)
	if got := Clean(exact, Short); got != exact {
		t.Errorf("a string of exactly the cap was changed: %d runes", utf8.RuneCountInString(got))
	}
	// Trailing junk that Clean drops does not count as "cut".
	if got := Clean(exact+"\x00\x1b  ", Short); got != exact {
		t.Errorf("trailing controls produced %q", got[len(got)-4:])
	}
	if got := Clean("abc", 0); got != "abc" {
		t.Errorf("max 0 means Short: got %q", got)
	}
}

func FuzzClean(f *testing.F) {
	for _, s := range []string{"", "a", "\x1b[31mred", "\u202Eevil", strings.Repeat("é", 200), "a\n\n\nb", "\xff"} {
		f.Add(s, 20)
	}
	f.Fuzz(func(t *testing.T, s string, max int) {
		if max > 5000 || max < -5 {
			max = 5000
		}
		got := Clean(s, max)
		limit := max
		if limit <= 0 {
			limit = Short
		}
		if n := utf8.RuneCountInString(got); n > limit {
			t.Fatalf("%d runes, cap %d", n, limit)
		}
		if !utf8.ValidString(got) {
			t.Fatalf("invalid UTF-8 out: %q", got)
		}
		for _, r := range got {
			if !Printable(r) || (isSpace(r) && r != ' ') {
				t.Fatalf("kept %U in %q", r, got)
			}
		}
		if strings.HasPrefix(got, " ") || strings.HasSuffix(got, " ") {
			t.Fatalf("untrimmed: %q", got)
		}
		if Clean(got, max) != got {
			t.Fatalf("not idempotent: %q -> %q", got, Clean(got, max))
		}
	})
}
