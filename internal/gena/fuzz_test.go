package gena

import (
	"net/http"
	"testing"
)

// FuzzParsePropertySet: any body is parsed or refused with a 400 *Error,
// without panicking, and what is accepted keeps the limits.
func FuzzParsePropertySet(f *testing.F) {
	f.Add([]byte(igdEvent))
	f.Add([]byte(`<propertyset xmlns="urn:schemas-upnp-org:event-1-0"><property><LastChange>&lt;x/&gt;</LastChange></property></propertyset>`))
	f.Fuzz(func(t *testing.T, body []byte) {
		vars, err := ParsePropertySet(body)
		if err != nil {
			if e, ok := err.(*Error); !ok || e.Status != http.StatusBadRequest {
				t.Fatalf("error %T %v", err, err)
			}
			return
		}
		if len(vars) > maxProperties {
			t.Fatalf("%d properties accepted", len(vars))
		}
		for _, v := range vars {
			if v.Name == "" || len(v.Name) > maxNameLen || len(v.Value) > maxValueLen {
				t.Fatalf("variable %q of %d bytes accepted", v.Name, len(v.Value))
			}
		}
	})
}

// FuzzParseHeaders: any header values are accepted or refused with an
// *Error, never a panic.
func FuzzParseHeaders(f *testing.F) {
	f.Add("upnp:event", "upnp:propchange", "uuid:abc", "0")
	f.Add("upnp:event", "upnp:propchange", "uuid:abc", "4294967295")
	f.Fuzz(func(t *testing.T, nt, nts, sid, seq string) {
		h := http.Header{"Nt": {nt}, "Nts": {nts}, "Sid": {sid}, "Seq": {seq}}
		n, err := ParseHeaders(h, "")
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error %T %v", err, err)
			}
			return
		}
		if n.SID == "" || len(n.SID) > maxSIDLen {
			t.Fatalf("SID of %d bytes accepted", len(n.SID))
		}
	})
}
