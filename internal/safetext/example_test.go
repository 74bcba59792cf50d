package safetext_test

import (
	"fmt"

	"github.com/upnpmap/upnpmap/internal/safetext"
)

func ExampleClean() {
	// A fault description as a hostile router might send it: an escape
	// sequence that clears the screen and a right-to-left override.
	fmt.Println(safetext.Clean("Conflict\x1b[2J in \u202Eentry\n", safetext.Short))
	// Output: Conflict[2J in entry
}
