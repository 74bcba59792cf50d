package igd

import (
	"fmt"
	"unicode/utf8"
)

// arg is one in-argument of an action, in the order the service's SCPD
// declares it (some routers read arguments by position).
type arg struct {
	name, value string
}

// The envelope is written by hand rather than with encoding/xml, for two
// router quirks goupnp documents: the action element must carry a prefixed
// namespace ("u:") because one router answers 500 when the default xmlns is
// set on it, and only &, < and > may be escaped in values because some
// servers do not decode &quot; or &apos;.
const (
	envelopeHead = `<?xml version="1.0"?>` + "\r\n" +
		`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/">` +
		`<s:Body>`
	envelopeTail = `</s:Body></s:Envelope>` + "\r\n"
)

// appendEnvelope appends the SOAP request for action of serviceType with args
// to dst. It fails when a value cannot be carried by XML 1.0 (invalid UTF-8
// or a control character other than tab, newline and carriage return).
func appendEnvelope(dst []byte, serviceType, action string, args []arg) ([]byte, error) {
	dst = append(dst, envelopeHead...)
	dst = append(dst, "<u:"...)
	dst = append(dst, action...)
	dst = append(dst, ` xmlns:u="`...)
	dst = appendEscaped(dst, serviceType)
	dst = append(dst, `">`...)
	for _, a := range args {
		if err := checkXMLText(a.value); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrInvalidArgs, a.name, err)
		}
		dst = append(dst, '<')
		dst = append(dst, a.name...)
		dst = append(dst, '>')
		dst = appendEscaped(dst, a.value)
		dst = append(dst, "</"...)
		dst = append(dst, a.name...)
		dst = append(dst, '>')
	}
	dst = append(dst, "</u:"...)
	dst = append(dst, action...)
	dst = append(dst, '>')
	dst = append(dst, envelopeTail...)
	return dst, nil
}

// appendEscaped appends s with &, < and > replaced by entity references.
// In attribute values (the namespace URN) double quotes would need escaping
// too; service types never contain them, and checkServiceType rejects any
// that does.
func appendEscaped(dst []byte, s string) []byte {
	last := 0
	for i := 0; i < len(s); i++ {
		var esc string
		switch s[i] {
		case '&':
			esc = "&amp;"
		case '<':
			esc = "&lt;"
		case '>':
			esc = "&gt;"
		default:
			continue
		}
		dst = append(dst, s[last:i]...)
		dst = append(dst, esc...)
		last = i + 1
	}
	return append(dst, s[last:]...)
}

// checkXMLText reports whether s can be sent as XML 1.0 character data.
func checkXMLText(s string) error {
	for i, r := range s {
		switch {
		case r == utf8.RuneError:
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				return fmt.Errorf("invalid UTF-8 at byte %d", i)
			}
		case r < 0x20 && r != '\t' && r != '\n' && r != '\r',
			r == 0xFFFE, r == 0xFFFF:
			return fmt.Errorf("character %U at byte %d cannot be sent in XML", r, i)
		}
	}
	return nil
}
