package discovery

import (
	"errors"
	"runtime"
	"strings"
	"testing"
)

// The hostile 6,000-deep description is rejected having cost about what the
// first maxXMLDepth levels cost, not what the whole document would: the
// limits are checked as tokens arrive. (Decoding it whole first, as before,
// allocated 3.5 MB per parse; see BenchmarkParseHostileDeep.)
func TestParseHostileDeepIsCheap(t *testing.T) {
	doc := hostileDeepDescription()
	loc := mustURL(t, "http://192.168.1.1:5000/rootDesc.xml")
	if _, err := ParseDescription(doc, loc, gw); !errors.Is(err, ErrMalformed) || !errors.Is(err, ErrUnusableDevice) {
		t.Fatalf("%v, want ErrMalformed and ErrUnusableDevice", err)
	}
	const budget = 512 << 10 // bytes allocated per parse; the document is 250 KB
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	const runs = 5
	for i := 0; i < runs; i++ {
		_, _ = ParseDescription(doc, loc, gw)
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / runs; per > budget {
		t.Errorf("rejecting the deep description allocated %d bytes per parse, budget %d", per, budget)
	}
}

func TestParseDescriptionElementLimit(t *testing.T) {
	// Flat but huge: many unknown elements under the root device.
	doc := "<root><device>" + strings.Repeat("<x/>", maxElements+1) + "</device></root>"
	_, err := ParseDescription([]byte(doc), mustURL(t, "http://192.168.1.1/d.xml"), gw)
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "elements") {
		t.Errorf("%v, want the element limit", err)
	}
	// Extensions a few levels deep below the deepest device are fine.
	ok := "<root>" + strings.Repeat("<device><deviceList>", maxDeviceDepth-1) +
		"<device><iconList><icon><url>/i.png</url></icon></iconList><serviceList><service><serviceType>t</serviceType><controlURL>/c</controlURL></service></serviceList></device>" +
		strings.Repeat("</deviceList></device>", maxDeviceDepth-1) + "</root>"
	root, err := ParseDescription([]byte(ok), mustURL(t, "http://192.168.1.1/d.xml"), gw)
	if err != nil || len(root.Services()) != 1 {
		t.Errorf("deepest device with extensions: %v", err)
	}
}

// Text inside a field's child elements is not the field's text, and the
// first root device is the one kept.
func TestParseDescriptionShapes(t *testing.T) {
	doc := `<?xml version="1.0"?><!-- a comment --><root><device><friendlyName>Box<b>bold</b> 1</friendlyName></device>` +
		`<device><friendlyName>second</friendlyName></device></root>trailing garbage`
	root := parseTestDesc(t, doc, "http://192.168.1.1/d.xml")
	if root.Device.FriendlyName != "Box 1" {
		t.Errorf("friendlyName %q", root.Device.FriendlyName)
	}
}
