package igd

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Parser limits. Bodies are already bounded by Client.MaxBodySize; these
// keep a hostile but small body from producing absurd structures.
const (
	maxOutArgs   = 64 // out-arguments in one action response
	maxFaultCode = 9999
)

// outArg is one out-argument of an action response.
type outArg struct {
	name  string
	value string // character data (CDATA included), entities decoded
	// raw holds the undecoded inner XML when the element had child
	// elements; a router that embeds NewPortListing unescaped does that.
	raw []byte
}

type outArgs []outArg

// get returns the first argument called name; if none, the first whose name
// matches ignoring case (some stacks vary capitalisation).
func (a outArgs) get(name string) (outArg, bool) {
	for _, x := range a {
		if x.name == name {
			return x, true
		}
	}
	for _, x := range a {
		if strings.EqualFold(x.name, name) {
			return x, true
		}
	}
	return outArg{}, false
}

// fault is the content of a SOAP Fault.
type fault struct {
	faultString string
	hasUPnP     bool // a <UPnPError> element was present
	code        int
	codeOK      bool
	description string
}

// parseSOAP parses a SOAP response body for action. It returns the
// out-arguments of <u:{action}Response> (whatever the namespace prefix), or a
// fault, or an error describing why the body is neither.
//
// Structure is checked (Envelope → Body → first child element), names are
// compared without namespace and ignoring case, and whitespace between
// elements is ignored. Headers are skipped; anything after the response
// element is not read.
func parseSOAP(body []byte, action string) (outArgs, *fault, error) {
	d, converted := newDecoder(body)
	root, err := nextStart(d)
	if err != nil {
		return nil, nil, err
	}
	if !strings.EqualFold(root.Name.Local, "Envelope") {
		return nil, nil, fmt.Errorf("root element is <%s>, not a SOAP Envelope", root.Name.Local)
	}
	// Find Body among the Envelope's children.
	for {
		el, err := nextChild(d)
		if err != nil {
			return nil, nil, err
		}
		if el == nil {
			return nil, nil, errors.New("SOAP Envelope has no Body")
		}
		if strings.EqualFold(el.Name.Local, "Body") {
			break
		}
		if err := d.Skip(); err != nil { // Header or an extension
			return nil, nil, err
		}
	}
	el, err := nextChild(d)
	if err != nil {
		return nil, nil, err
	}
	switch {
	case el == nil:
		return nil, nil, errors.New("SOAP Body is empty")
	case strings.EqualFold(el.Name.Local, "Fault"):
		f, err := parseFault(d)
		if err != nil {
			return nil, nil, err
		}
		return nil, f, nil
	case strings.EqualFold(el.Name.Local, action+"Response"):
		if *converted {
			body = nil // offsets no longer index body; see readArg
		}
		args, err := parseArgs(d, body)
		return args, nil, err
	default:
		return nil, nil, fmt.Errorf("SOAP Body holds <%s>, want <%sResponse>", el.Name.Local, action)
	}
}

// parseArgs reads the children of an action response element up to its end
// tag.
func parseArgs(d *xml.Decoder, body []byte) (outArgs, error) {
	var args outArgs
	for {
		el, err := nextChild(d)
		if err != nil {
			return nil, err
		}
		if el == nil {
			return args, nil
		}
		if len(args) == maxOutArgs {
			return nil, fmt.Errorf("more than %d out-arguments", maxOutArgs)
		}
		a, err := readArg(d, el.Name.Local, body)
		if err != nil {
			return nil, err
		}
		args = append(args, a)
	}
}

// readArg reads one argument element whose start tag was just consumed.
// body is the document the decoder reads, used to slice out raw inner XML;
// nil when a charset conversion made the decoder's offsets differ from it,
// in which case raw stays empty.
func readArg(d *xml.Decoder, name string, body []byte) (outArg, error) {
	a := outArg{name: name}
	var text []byte
	start := d.InputOffset()
	nested := false
	depth := 0
	for {
		before := d.InputOffset()
		tok, err := d.Token()
		if err != nil {
			return outArg{}, unexpectedEOF(err)
		}
		switch t := tok.(type) {
		case xml.CharData:
			if depth == 0 {
				text = append(text, t...)
			}
		case xml.StartElement:
			nested = true
			depth++
		case xml.EndElement:
			if depth == 0 {
				if nested && body != nil && 0 <= start && start <= before && before <= int64(len(body)) {
					a.raw = body[start:before]
				}
				a.value = string(text)
				return a, nil
			}
			depth--
		}
	}
}

// parseFault reads a Fault element whose start tag was just consumed. It
// returns an error only for XML that does not parse; a fault without a usable
// <UPnPError> comes back with hasUPnP or codeOK false.
func parseFault(d *xml.Decoder) (*fault, error) {
	f := &fault{}
	// Walk the Fault subtree and remember which element we are in by local
	// name: faultstring anywhere, errorCode/errorDescription inside UPnPError.
	var stack []string
	var text []byte
	inUPnP := 0 // depth inside UPnPError, 0 = outside
	for {
		tok, err := d.Token()
		if err != nil {
			return nil, unexpectedEOF(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			stack = append(stack, t.Name.Local)
			text = text[:0]
			if inUPnP > 0 {
				inUPnP++
			} else if strings.EqualFold(t.Name.Local, "UPnPError") {
				f.hasUPnP = true
				inUPnP = 1
			}
		case xml.CharData:
			text = append(text, t...)
		case xml.EndElement:
			if len(stack) == 0 {
				return f, nil // </Fault>
			}
			name := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			switch {
			case inUPnP == 2 && strings.EqualFold(name, "errorCode") && !f.codeOK:
				if n, err := strconv.Atoi(strings.TrimSpace(string(text))); err == nil && n > 0 && n <= maxFaultCode {
					f.code, f.codeOK = n, true
				}
			case inUPnP == 2 && strings.EqualFold(name, "errorDescription"):
				f.description = strings.TrimSpace(string(text))
			case inUPnP == 0 && strings.EqualFold(name, "faultstring"):
				f.faultString = strings.TrimSpace(string(text))
			}
			if inUPnP > 0 {
				inUPnP--
			}
			text = text[:0]
		}
	}
}

// newDecoder returns a strict decoder over b that also accepts the two
// single-byte charsets embedded servers declare. *converted becomes true once
// the decoder switched to a converting reader (its offsets then count
// converted bytes).
func newDecoder(b []byte) (d *xml.Decoder, converted *bool) {
	converted = new(bool)
	d = xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	d.CharsetReader = func(label string, input io.Reader) (io.Reader, error) {
		r, conv, err := charsetReader(label, input)
		*converted = conv
		return r, err
	}
	return d, converted
}

// nextStart returns the next start element, skipping the prolog.
func nextStart(d *xml.Decoder) (*xml.StartElement, error) {
	for {
		tok, err := d.Token()
		if err != nil {
			return nil, unexpectedEOF(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return &t, nil
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return nil, errors.New("text outside the root element")
			}
		}
	}
}

// nextChild returns the next child start element of the current element, or
// nil at its end tag. Text between elements must be white space.
func nextChild(d *xml.Decoder) (*xml.StartElement, error) {
	for {
		tok, err := d.Token()
		if err != nil {
			return nil, unexpectedEOF(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return &t, nil
		case xml.EndElement:
			return nil, nil
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return nil, fmt.Errorf("unexpected text %q", truncate(string(bytes.TrimSpace(t)), 32))
			}
		}
	}
}

func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// charsetReader accepts US-ASCII and ISO-8859-1 besides UTF-8 (which
// encoding/xml handles itself).
// The bool reports whether the bytes are rewritten.
func charsetReader(label string, input io.Reader) (io.Reader, bool, error) {
	switch strings.ToLower(strings.TrimSpace(label)) {
	case "us-ascii", "ascii":
		return input, false, nil
	case "iso-8859-1", "iso8859-1", "latin1", "latin-1":
		b, err := io.ReadAll(input) // already bounded by MaxBodySize
		if err != nil {
			return nil, false, err
		}
		out := make([]byte, 0, len(b)+len(b)/8)
		for _, c := range b {
			out = utf8.AppendRune(out, rune(c))
		}
		return bytes.NewReader(out), true, nil
	}
	return nil, false, fmt.Errorf("unsupported charset %q", label)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
