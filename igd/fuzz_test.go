package igd

import (
	"bytes"
	"testing"
	"unicode/utf8"

	"github.com/upnpmap/upnpmap/internal/safetext"
)

// The fuzz targets feed hostile bytes to each parser: none may panic, and
// what they accept must satisfy the invariants the callers rely on. Seeds are
// in testdata/fuzz/<FuzzName>/.

// FuzzParseResponse: whole SOAP reply bodies.
func FuzzParseResponse(f *testing.F) {
	f.Add([]byte(okReply(ServiceWANIP2, "AddAnyPortMapping", "NewReservedPort", "5002").body))
	f.Add([]byte(faultReply(718, "ConflictInMappingEntry").body))
	f.Fuzz(func(t *testing.T, body []byte) {
		args, flt, err := parseSOAP(body, "AddAnyPortMapping")
		switch {
		case err != nil:
			if args != nil || flt != nil {
				t.Fatal("error together with a result")
			}
		case flt != nil:
			if args != nil {
				t.Fatal("fault together with arguments")
			}
			if flt.codeOK && (flt.code <= 0 || flt.code > maxFaultCode) {
				t.Fatalf("fault code %d out of range", flt.code)
			}
		default:
			if len(args) > maxOutArgs {
				t.Fatalf("%d out-arguments", len(args))
			}
			for _, a := range args {
				if a.raw != nil && !bytes.Contains(body, a.raw) {
					t.Fatal("raw inner XML is not a slice of the body")
				}
			}
			// Typed extraction must not panic either.
			f := argFields(args)
			_ = f.port("NewReservedPort")
		}
	})
}

// FuzzParseFault: the inside of a SOAP Fault element.
func FuzzParseFault(f *testing.F) {
	f.Add([]byte(`<faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail><UPnPError xmlns="urn:schemas-upnp-org:control-1-0"><errorCode>725</errorCode><errorDescription>OnlyPermanentLeasesSupported</errorDescription></UPnPError></detail>`))
	f.Add([]byte(`<faultstring>Invalid Action</faultstring>`))
	f.Fuzz(func(t *testing.T, inner []byte) {
		body := append([]byte(testEnvHead+"<s:Fault>"), inner...)
		body = append(body, "</s:Fault>"+testEnvTail...)
		_, flt, err := parseSOAP(body, "AddPortMapping")
		if err != nil || flt == nil {
			return
		}
		if flt.codeOK {
			if !flt.hasUPnP || flt.code <= 0 || flt.code > maxFaultCode {
				t.Fatalf("accepted fault %+v", flt)
			}
			e := newUPnPError("AddPortMapping", flt.code, flt.description)
			// Whatever the router wrote, the message is safe for a terminal
			// and bounded.
			msg := e.Error()
			for _, r := range msg {
				if r != ' ' && !safetext.Printable(r) {
					t.Fatalf("Error() carries %U: %q", r, msg)
				}
			}
			if n := utf8.RuneCountInString(msg); n > 300 {
				t.Fatalf("Error() is %d runes", n)
			}
			_ = e.Unwrap()
		}
	})
}

// FuzzParsePortListing: NewPortListing documents.
func FuzzParsePortListing(f *testing.F) {
	f.Add([]byte(listingDoc), 0)
	f.Add([]byte(`<p:PortMappingList xmlns:p="x"></p:PortMappingList>`), 1)
	f.Fuzz(func(t *testing.T, doc []byte, limit int) {
		if limit <= 0 || limit > maxListing {
			limit = maxListing
		}
		list, err := parsePortListing(doc, limit)
		if err != nil {
			return
		}
		if len(list) > limit {
			t.Fatalf("%d entries, limit %d", len(list), limit)
		}
		for _, m := range list {
			if m.Protocol != TCP && m.Protocol != UDP {
				t.Fatalf("accepted protocol %q", m.Protocol)
			}
		}
	})
}
