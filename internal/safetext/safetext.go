// Package safetext makes text that a router supplied safe to show: fault
// descriptions, mapping descriptions, friendly names and model strings reach
// terminals and logs, and a router (or anything on the LAN that answers in
// its place) chooses every byte of them.
//
// Clean caps the length and removes what a terminal would act on instead of
// printing: C0 and C1 control characters (escape sequences start with them),
// the Unicode bidirectional overrides and isolates that reorder what follows
// them (U+202E makes "exe.txt" read "txt.exe"), and invalid UTF-8.
//
// Typical use:
//
//	fmt.Fprintf(os.Stderr, "router says: %s\n", safetext.Clean(fault.Description, safetext.Short))
package safetext

import (
	"strings"
	"unicode/utf8"
)

// Length caps, in runes, for the kinds of router text upnpmap shows.
const (
	// Short fits a name or a one-line description: friendly names, model
	// names, mapping descriptions, UPnP errorDescription.
	Short = 120
	// Long fits a paragraph: a router's free-text status or an HTTP error body
	// quoted in a diagnosis.
	Long = 1024
)

// ellipsis ends a string that Clean cut short, so that a reader knows.
const ellipsis = "…"

// Clean returns s with control characters, bidirectional formatting
// characters and invalid UTF-8 removed, runs of white space (tabs and
// newlines included) folded into one space, surrounding space trimmed, and at
// most max runes kept (the last one an ellipsis when it was cut). max <= 0
// means Short.
func Clean(s string, max int) string {
	if max <= 0 {
		max = Short
	}
	var b strings.Builder
	// A hostile string can be megabytes; never build more than the cap needs.
	b.Grow(min(len(s), 4*max))
	n := 0
	space := false
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == utf8.RuneError && size <= 1:
			continue
		case isSpace(r):
			space = n > 0
			continue
		case !Printable(r):
			continue
		}
		if space {
			if n+1 >= max {
				// r is printable and comes after the space: the text goes on.
				b.WriteString(ellipsis)
				return b.String()
			}
			b.WriteByte(' ')
			n++
			space = false
		}
		if n+1 >= max && i < len(s) && hasPrintable(s[i:]) {
			b.WriteString(ellipsis)
			return b.String()
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}

// hasPrintable reports whether s holds any rune that Clean would keep.
func hasPrintable(s string) bool {
	for _, r := range s {
		if r != utf8.RuneError && !isSpace(r) && Printable(r) {
			return true
		}
	}
	return false
}

// isSpace reports the white space Clean folds: ASCII space, tab, newlines,
// and the Unicode spaces a router might pad with.
func isSpace(r rune) bool {
	switch r {
	case ' ', '\t', '\n', '\v', '\f', '\r', 0x85, 0xA0, 0x2028, 0x2029, 0x3000:
		return true
	}
	return r >= 0x2000 && r <= 0x200A
}

// Printable reports whether r may reach a terminal: not a C0 or C1 control,
// not DEL, not a bidirectional mark, embedding, override or isolate, not a
// zero-width joiner-like invisible that spoofs text, and not a
// non-character.
func Printable(r rune) bool {
	switch {
	case r < 0x20, r == 0x7F, r >= 0x80 && r <= 0x9F:
		return false
	case r == 0x061C, r == 0x200E, r == 0x200F: // ALM, LRM, RLM
		return false
	case r >= 0x202A && r <= 0x202E: // LRE, RLE, PDF, LRO, RLO
		return false
	case r >= 0x2066 && r <= 0x2069: // LRI, RLI, FSI, PDI
		return false
	case r == 0x200B, r == 0x2060, r == 0xFEFF: // zero-width space, word joiner, BOM
		return false
	case r >= 0xFFF9 && r <= 0xFFFB: // interlinear annotation controls
		return false
	case r&0xFFFE == 0xFFFE, r >= 0xFDD0 && r <= 0xFDEF: // non-characters
		return false
	case r > utf8.MaxRune:
		return false
	}
	return true
}
