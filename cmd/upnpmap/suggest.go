package main

import (
	"fmt"
	"strings"

	"github.com/spf13/pflag"
)

// suggest returns the candidate closest to what the user typed, for a "did
// you mean" hint: one within two edits, or one that starts with it. "" when
// nothing is close.
func suggest(typed string, candidates []string) string {
	best, bestDist := "", 3
	for _, c := range candidates {
		if c == typed {
			continue
		}
		d := editDistance(typed, c)
		if len(typed) >= 2 && strings.HasPrefix(c, typed) {
			d = min(d, 1)
		}
		if d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b (bytes: command
// and flag names are ASCII).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// commandNames lists the commands, for suggestions.
func commandNames() []string {
	names := make([]string, 0, len(commands)+1)
	for _, c := range commands {
		names = append(names, c.name)
	}
	return append(names, "help")
}

// withFlagHint adds "did you mean --X?" to pflag's unknown-flag errors.
func withFlagHint(err error, fs *pflag.FlagSet) error {
	msg := err.Error()
	var typed string
	switch {
	case strings.HasPrefix(msg, "unknown flag: --"):
		typed = strings.TrimPrefix(msg, "unknown flag: --")
	case strings.HasPrefix(msg, "unknown shorthand flag: '"):
		typed = strings.TrimPrefix(msg, "unknown shorthand flag: '")
		typed, _, _ = strings.Cut(typed, "'")
	case strings.Contains(msg, "'i' in -i"):
		return fmt.Errorf("%s (-i is --interface NAME here, not upnpc's -i)", msg)
	default:
		return err
	}
	var names []string
	fs.VisitAll(func(f *pflag.Flag) { names = append(names, f.Name) })
	if s := suggest(typed, names); s != "" {
		return fmt.Errorf("%s (did you mean --%s?)", msg, s)
	}
	return err
}
