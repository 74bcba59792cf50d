package gena

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/upnpmap/upnpmap/internal/safetext"
)

// Limits on a NOTIFY. A real IGD event carries a handful of short
// variables in well under 2 KiB; these leave ample room and no more.
const (
	// MaxBody bounds the body read from the request.
	MaxBody = 64 << 10
	// maxProperties bounds the variables of one event.
	maxProperties = 64
	// maxNameLen and maxValueLen bound a variable's name and value.
	maxNameLen  = 128
	maxValueLen = 8 << 10
	// maxSIDLen bounds the SID header ("uuid:" and a UUID is 41 bytes).
	maxSIDLen = 256
)

// The namespace of the property set (UDA 1.1 §4.3.2).
const eventNS = "urn:schemas-upnp-org:event-1-0"

// Var is one evented variable: its name and its value as sent. The value
// is router text: clean it (internal/safetext) before it is shown.
type Var struct {
	Name  string
	Value string
}

// Notify is an accepted event.
type Notify struct {
	// SID is the subscription the event belongs to.
	SID string
	// Seq is the event key: 0 for the initial event, then one more per
	// event, wrapping from 4294967295 to 1 (see Expect).
	Seq uint32
	// Vars are the variables in the order sent.
	Vars []Var
}

// Get returns the value of the variable name and whether it was sent.
func (n *Notify) Get(name string) (string, bool) {
	for _, v := range n.Vars {
		if v.Name == name {
			return v.Value, true
		}
	}
	return "", false
}

// ReadNotify checks and reads a NOTIFY request: method, NT, NTS, SID (which
// must equal sid, unless sid is empty), SEQ, and a body of at most MaxBody
// bytes holding a property set. It reads r.Body but does not close it.
func ReadNotify(r *http.Request, sid string) (*Notify, error) {
	if r.Method != "NOTIFY" {
		return nil, badRequest("method %q, want NOTIFY", r.Method)
	}
	n, err := ParseHeaders(r.Header, sid)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	if err != nil {
		return nil, badRequest("reading the body: %v", err)
	}
	if len(body) > MaxBody {
		return nil, &Error{Status: http.StatusBadRequest, Msg: "body over " + strconv.Itoa(MaxBody) + " bytes", err: ErrTooLarge}
	}
	if n.Vars, err = ParsePropertySet(body); err != nil {
		return nil, err
	}
	return n, nil
}

// ParseHeaders checks the headers of an event message: NT upnp:event, NTS
// upnp:propchange, a SID equal to sid (any SID when sid is empty), and a
// decimal SEQ. A missing header is a bad request; a wrong NT, NTS or SID
// fails the precondition (UDA 1.1 §4.3.2).
func ParseHeaders(h http.Header, sid string) (*Notify, error) {
	nt, nts, gotSID, seq := h.Values("NT"), h.Values("NTS"), h.Values("SID"), h.Values("SEQ")
	switch {
	case len(nt) == 0 || len(nts) == 0:
		return nil, badRequest("NT or NTS header missing")
	case len(gotSID) == 0:
		return nil, badRequest("SID header missing")
	case len(seq) == 0:
		return nil, badRequest("SEQ header missing")
	case len(nt) > 1 || len(nts) > 1 || len(gotSID) > 1 || len(seq) > 1:
		return nil, badRequest("a header is repeated")
	}
	if strings.TrimSpace(nt[0]) != "upnp:event" {
		return nil, precondition("NT %q, want upnp:event", clip(nt[0]))
	}
	if strings.TrimSpace(nts[0]) != "upnp:propchange" {
		return nil, precondition("NTS %q, want upnp:propchange", clip(nts[0]))
	}
	s := strings.TrimSpace(gotSID[0])
	if s == "" || len(s) > maxSIDLen {
		return nil, badRequest("SID of %d bytes", len(s))
	}
	if sid != "" && s != sid {
		return nil, precondition("SID %q is not the subscription's", clip(s))
	}
	q := strings.TrimSpace(seq[0])
	if q == "" || len(q) > 10 || strings.TrimLeft(q, "0123456789") != "" {
		return nil, badRequest("SEQ %q is not a number", clip(q))
	}
	v, err := strconv.ParseUint(q, 10, 32)
	if err != nil {
		return nil, badRequest("SEQ %q out of range", clip(q))
	}
	return &Notify{SID: s, Seq: uint32(v)}, nil
}

// ParsePropertySet reads an event body:
//
//	<e:propertyset xmlns:e="urn:schemas-upnp-org:event-1-0">
//	  <e:property><ExternalIPAddress>203.0.113.7</ExternalIPAddress></e:property>
//	</e:propertyset>
//
// Each property holds exactly one variable whose value is text (escaped
// XML, as LastChange carries, is text too). Anything else — another root,
// elements inside a value, text between properties, a second root, a
// DOCTYPE — is a bad request.
func ParsePropertySet(body []byte) ([]Var, error) {
	if len(body) > MaxBody {
		return nil, &Error{Status: http.StatusBadRequest, Msg: "body over " + strconv.Itoa(MaxBody) + " bytes", err: ErrTooLarge}
	}
	d := xml.NewDecoder(bytes.NewReader(body))
	d.Strict = true
	p := &parser{d: d}
	vars, err := p.propertySet()
	if err != nil {
		return nil, badRequest("property set: %v", err)
	}
	return vars, nil
}

// parser walks the token stream of a property set.
type parser struct {
	d *xml.Decoder
}

var errShape = errors.New("not a property set")

// next returns the next token that matters: start and end elements, and
// character data that is not white space. Comments and processing
// instructions are skipped; a DOCTYPE is refused (it could declare
// entities).
func (p *parser) next() (xml.Token, error) {
	for {
		t, err := p.d.Token()
		if err != nil {
			return nil, err
		}
		switch t := t.(type) {
		case xml.StartElement, xml.EndElement:
			return t, nil
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 {
				return t, nil
			}
		case xml.Directive:
			return nil, errors.New("a directive (DOCTYPE) is not allowed")
		}
	}
}

func (p *parser) propertySet() ([]Var, error) {
	t, err := p.next()
	if err != nil {
		return nil, err
	}
	root, ok := t.(xml.StartElement)
	if !ok || root.Name.Local != "propertyset" || root.Name.Space != eventNS {
		return nil, errShape
	}
	var vars []Var
	for {
		t, err := p.next()
		if err != nil {
			return nil, err
		}
		switch t := t.(type) {
		case xml.EndElement: // </propertyset>; nothing may follow
			if _, err := p.next(); err != io.EOF {
				return nil, errors.New("content after the property set")
			}
			return vars, nil
		case xml.StartElement:
			if t.Name.Local != "property" || t.Name.Space != eventNS {
				return nil, errShape
			}
			if len(vars) == maxProperties {
				return nil, errors.New("too many properties")
			}
			v, err := p.property()
			if err != nil {
				return nil, err
			}
			vars = append(vars, v)
		default:
			return nil, errShape
		}
	}
}

// property reads one variable and the property's end tag.
func (p *parser) property() (Var, error) {
	t, err := p.next()
	if err != nil {
		return Var{}, err
	}
	start, ok := t.(xml.StartElement)
	if !ok {
		return Var{}, errors.New("a property without a variable")
	}
	name := start.Name.Local
	if name == "" || len(name) > maxNameLen {
		return Var{}, errors.New("variable name of bad length")
	}
	var val strings.Builder
	for done := false; !done; {
		t, err := p.d.Token()
		if err != nil {
			return Var{}, err
		}
		switch t := t.(type) {
		case xml.CharData:
			if val.Len()+len(t) > maxValueLen {
				return Var{}, errors.New("value too long")
			}
			val.Write(t)
		case xml.EndElement:
			done = true
		case xml.StartElement:
			return Var{}, errors.New("an element inside a value")
		case xml.Directive:
			return Var{}, errors.New("a directive inside a value")
		}
	}
	if t, err := p.next(); err != nil {
		return Var{}, err
	} else if _, ok := t.(xml.EndElement); !ok {
		return Var{}, errors.New("a property with more than one variable")
	}
	return Var{Name: name, Value: val.String()}, nil
}

// clip makes router text quoted in an error safe to print and short.
func clip(s string) string { return safetext.Clean(s, safetext.Short) }
