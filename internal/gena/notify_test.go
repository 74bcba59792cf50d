package gena

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

const igdEvent = `<?xml version="1.0"?>
<e:propertyset xmlns:e="urn:schemas-upnp-org:event-1-0">
<e:property><PortMappingNumberOfEntries>2</PortMappingNumberOfEntries></e:property>
<e:property><ExternalIPAddress>203.0.113.7</ExternalIPAddress></e:property>
<e:property><ConnectionStatus>Connected</ConnectionStatus></e:property>
</e:propertyset>`

func notifyReq(body string, hdr map[string]string) *http.Request {
	r := httptest.NewRequest("NOTIFY", "/evt", strings.NewReader(body))
	for k, v := range map[string]string{"NT": "upnp:event", "NTS": "upnp:propchange", "SID": "uuid:abc", "SEQ": "3"} {
		r.Header.Set(k, v)
	}
	for k, v := range hdr {
		if v == "" {
			r.Header.Del(k)
		} else {
			r.Header.Set(k, v)
		}
	}
	return r
}

func TestReadNotifyIGDEvent(t *testing.T) {
	n, err := ReadNotify(notifyReq(igdEvent, nil), "uuid:abc")
	if err != nil {
		t.Fatal(err)
	}
	if n.SID != "uuid:abc" || n.Seq != 3 || len(n.Vars) != 3 {
		t.Fatalf("%+v", n)
	}
	if v, ok := n.Get("ExternalIPAddress"); !ok || v != "203.0.113.7" {
		t.Errorf("ExternalIPAddress %q %v", v, ok)
	}
	if _, ok := n.Get("Missing"); ok {
		t.Error("Get found a variable that was not sent")
	}
}

// Event bodies with the namespace as the default rather than a prefix, and
// escaped XML in a value (LastChange style) is text.
func TestParsePropertySetVariants(t *testing.T) {
	body := `<propertyset xmlns="urn:schemas-upnp-org:event-1-0"><property><LastChange>&lt;Event/&gt;</LastChange></property></propertyset>`
	vars, err := ParsePropertySet([]byte(body))
	if err != nil || !slices.Equal(vars, []Var{{"LastChange", "<Event/>"}}) {
		t.Fatalf("%v %v", vars, err)
	}
	vars, err = ParsePropertySet([]byte(`<e:propertyset xmlns:e="urn:schemas-upnp-org:event-1-0"></e:propertyset>`))
	if err != nil || len(vars) != 0 {
		t.Fatalf("empty set: %v %v", vars, err)
	}
}

func TestReadNotifyStatus(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		hdr    map[string]string
		sid    string
		status int
	}{
		{"no NT", igdEvent, map[string]string{"NT": ""}, "", 400},
		{"no SID", igdEvent, map[string]string{"SID": ""}, "", 400},
		{"no SEQ", igdEvent, map[string]string{"SEQ": ""}, "", 400},
		{"SEQ not a number", igdEvent, map[string]string{"SEQ": "-1"}, "", 400},
		{"SEQ over 32 bits", igdEvent, map[string]string{"SEQ": "4294967296"}, "", 400},
		{"wrong NT", igdEvent, map[string]string{"NT": "upnp:rootdevice"}, "", 412},
		{"wrong NTS", igdEvent, map[string]string{"NTS": "ssdp:alive"}, "", 412},
		{"another subscription", igdEvent, nil, "uuid:other", 412},
		{"not XML", "hello", nil, "", 400},
		{"other root", `<propertyset><property><A>1</A></property></propertyset>`, nil, "", 400},
		{"element in value", `<e:propertyset xmlns:e="urn:schemas-upnp-org:event-1-0"><e:property><A><b/></A></e:property></e:propertyset>`, nil, "", 400},
		{"two variables", `<e:propertyset xmlns:e="urn:schemas-upnp-org:event-1-0"><e:property><A>1</A><B>2</B></e:property></e:propertyset>`, nil, "", 400},
		{"doctype", `<!DOCTYPE x [<!ENTITY a "b">]><e:propertyset xmlns:e="urn:schemas-upnp-org:event-1-0"></e:propertyset>`, nil, "", 400},
		{"trailing element", `<e:propertyset xmlns:e="urn:schemas-upnp-org:event-1-0"></e:propertyset><x/>`, nil, "", 400},
		{"too large", "<" + strings.Repeat("a", MaxBody+1), nil, "", 400},
		{"too many properties", `<e:propertyset xmlns:e="urn:schemas-upnp-org:event-1-0">` + strings.Repeat(`<e:property><A>1</A></e:property>`, maxProperties+1) + `</e:propertyset>`, nil, "", 400},
	}
	for _, tt := range tests {
		_, err := ReadNotify(notifyReq(tt.body, tt.hdr), tt.sid)
		var ge *Error
		if !errors.As(err, &ge) || ge.Status != tt.status {
			t.Errorf("%s: %v, want status %d", tt.name, err, tt.status)
			continue
		}
		want := ErrBadRequest
		if tt.status == 412 {
			want = ErrPrecondition
		}
		if !errors.Is(err, want) {
			t.Errorf("%s: %v does not wrap %v", tt.name, err, want)
		}
	}
	if _, err := ReadNotify(notifyReq("<"+strings.Repeat("a", MaxBody+1), nil), ""); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized body: %v, want ErrTooLarge", err)
	}
	r := notifyReq(igdEvent, nil)
	r.Method = "POST"
	if _, err := ReadNotify(r, ""); !errors.Is(err, ErrBadRequest) {
		t.Errorf("POST: %v", err)
	}
}

// Router text quoted in an error is cleaned of control characters.
func TestErrorTextCleaned(t *testing.T) {
	_, err := ReadNotify(notifyReq(igdEvent, map[string]string{"NT": "x\x1b[31m\u202e"}), "")
	if err == nil || strings.ContainsAny(err.Error(), "\x1b\u202e") {
		t.Errorf("error %q", err)
	}
}

func TestTrackerGaps(t *testing.T) {
	var tr Tracker
	steps := []struct {
		seq uint32
		gap bool
	}{{0, false}, {1, false}, {2, false}, {4, true}, {5, false}, {0, false}, {1, false}, {1, true}}
	for i, s := range steps {
		if got := tr.Note(s.seq); got != s.gap {
			t.Errorf("step %d: SEQ %d gap %v, want %v", i, s.seq, got, s.gap)
		}
	}
	tr = Tracker{last: ^uint32(0), started: true}
	if tr.Note(1) {
		t.Error("4294967295 then 1 is the wrap, not a gap")
	}
	var fresh Tracker
	if !fresh.Note(7) {
		t.Error("a first event other than 0 means the initial event was lost")
	}
}
