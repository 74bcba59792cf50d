package gatewaytest

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
)

const (
	soapEnvNS = "http://schemas.xmlsoap.org/soap/envelope/"
	soapEncNS = "http://schemas.xmlsoap.org/soap/encoding/"

	maxSOAPArgs  = 32
	maxSOAPDepth = 8
)

// UPnP error descriptions (UDA 2.0 §3.2.2 and the WANIPConnection specs).
var upnpErrors = map[int]string{
	401: "Invalid Action",
	402: "Invalid Args",
	501: "Action Failed",
	606: "Action not authorized",
	713: "SpecifiedArrayIndexInvalid",
	714: "NoSuchEntryInArray",
	715: "WildCardNotPermittedInSrcIP",
	716: "WildCardNotPermittedInExtPort",
	718: "ConflictInMappingEntry",
	724: "SamePortValuesRequired",
	725: "OnlyPermanentLeasesSupported",
	726: "RemoteHostOnlySupportsWildcard",
	727: "ExternalPortOnlySupportsWildcard",
	728: "NoPortMapsAvailable",
	729: "ConflictWithOtherMechanisms",
	730: "PortMappingNotFound",
	732: "WildCardNotPermittedInIntPort",
	733: "InconsistentParameters",
}

// soapRequest is a parsed control request body.
type soapRequest struct {
	service string // the action element's namespace
	action  string
	args    map[string]string
}

var errSOAP = errors.New("malformed SOAP request")

// parseSOAP decodes Envelope/Body/<action xmlns=service>args</action>. Each
// argument must be a leaf element; names must not repeat. encoding/xml
// expands no external entities, and the body is bounded by the caller.
func parseSOAP(body []byte) (*soapRequest, error) {
	d := xml.NewDecoder(bytes.NewReader(body))
	d.Strict = true
	var (
		req   *soapRequest
		path  []xml.Name // open elements
		text  strings.Builder
		inArg bool
	)
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errSOAP, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			path = append(path, t.Name)
			if len(path) > maxSOAPDepth {
				return nil, fmt.Errorf("%w: too deep", errSOAP)
			}
			switch len(path) {
			case 1:
				if t.Name != (xml.Name{Space: soapEnvNS, Local: "Envelope"}) {
					return nil, fmt.Errorf("%w: root is not a SOAP Envelope", errSOAP)
				}
			case 2:
				if t.Name.Space != soapEnvNS {
					return nil, fmt.Errorf("%w: unknown envelope element %s", errSOAP, t.Name.Local)
				}
			case 3:
				if path[1].Local != "Body" {
					continue // a Header entry; ignored
				}
				if req != nil {
					return nil, fmt.Errorf("%w: more than one action", errSOAP)
				}
				req = &soapRequest{service: t.Name.Space, action: t.Name.Local, args: map[string]string{}}
			case 4:
				if path[1].Local != "Body" {
					continue
				}
				if len(req.args) >= maxSOAPArgs {
					return nil, fmt.Errorf("%w: too many arguments", errSOAP)
				}
				if _, dup := req.args[t.Name.Local]; dup {
					return nil, fmt.Errorf("%w: argument %s repeated", errSOAP, t.Name.Local)
				}
				inArg = true
				text.Reset()
			default:
				if path[1].Local == "Body" {
					return nil, fmt.Errorf("%w: argument %s is not a leaf", errSOAP, path[3].Local)
				}
			}
		case xml.EndElement:
			if len(path) == 4 && inArg {
				req.args[path[3].Local] = text.String()
				inArg = false
			}
			path = path[:len(path)-1]
		case xml.CharData:
			if inArg {
				text.Write(t)
			}
		}
	}
	if req == nil {
		return nil, fmt.Errorf("%w: no action in Body", errSOAP)
	}
	return req, nil
}

// parseSOAPAction splits the quoted SOAPAction header value
// "serviceType#Action"; ok is false unless it is quoted and well formed.
func parseSOAPAction(h string) (svcType, action string, ok bool) {
	if len(h) < 2 || h[0] != '"' || h[len(h)-1] != '"' {
		return "", "", false
	}
	svcType, action, ok = strings.Cut(h[1:len(h)-1], "#")
	return svcType, action, ok && svcType != "" && action != ""
}

// serviceAccepts reports whether a request addressed to typ may be served by
// svc: the same service name at a version no higher than svc's (services are
// backward compatible with their earlier versions).
func serviceAccepts(svc service, typ string) bool {
	return typeMatches(typ, svc.prefix(), svc.name, svc.version)
}

// serveSOAP checks and runs one control request.
func (g *Gateway) serveSOAP(w http.ResponseWriter, r *http.Request, svc service, caller netip.Addr) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxSOAPBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "bad request body", http.StatusBadRequest)
		return
	}
	hType, hAction, ok := parseSOAPAction(r.Header.Get("SOAPAction"))
	if !ok || !serviceAccepts(svc, hType) {
		writeFault(w, 401)
		return
	}
	req, err := parseSOAP(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if req.action != hAction || req.service != hType {
		writeFault(w, 401)
		return
	}
	g.mu.Lock()
	g.st.requests[req.action]++
	code, text := g.st.fail[req.action], g.st.failText[req.action]
	if code == 0 {
		code, text = g.st.fail["*"], g.st.failText["*"]
	}
	g.mu.Unlock()
	if code != 0 {
		writeFaultText(w, code, text)
		return
	}
	if out, code, ok := g.downAnswer(svc, req.action); ok {
		if code != 0 {
			writeFault(w, code)
		} else {
			writeSOAPResponse(w, hType, req.action, out)
		}
		return
	}
	if b, ok := g.replay.capturedReply(req.action); ok {
		g.log.Debug("soap replayed", "action", req.action, "caller", caller)
		w.Header().Set("Content-Type", `text/xml; charset="utf-8"`)
		w.Header().Set("EXT", "")
		_, _ = w.Write(b)
		return
	}
	out, code := g.runAction(svc, req, caller)
	g.log.Debug("soap", "action", req.action, "caller", caller, "code", code)
	if code != 0 {
		writeFaultText(w, code, svc.faultName(code))
		return
	}
	writeSOAPResponse(w, hType, req.action, out)
}

// arg is one output argument, in the order the spec lists them.
type arg struct{ name, value string }

func writeSOAPResponse(w http.ResponseWriter, svcType, action string, out []arg) {
	var b bytes.Buffer
	b.WriteString(xml.Header)
	fmt.Fprintf(&b, `<s:Envelope xmlns:s="%s" s:encodingStyle="%s"><s:Body>`, soapEnvNS, soapEncNS)
	fmt.Fprintf(&b, `<u:%sResponse xmlns:u="%s">`, action, attrEscape(svcType))
	for _, a := range out {
		tag(&b, a.name, a.value)
	}
	fmt.Fprintf(&b, `</u:%sResponse></s:Body></s:Envelope>`, action)
	w.Header().Set("Content-Type", `text/xml; charset="utf-8"`)
	w.Header().Set("EXT", "")
	_, _ = w.Write(b.Bytes())
}

// writeFault answers with a UPnP error: HTTP 500 and a SOAP Fault carrying
// UPnPError (UDA 2.0 §3.2.2).
func writeFault(w http.ResponseWriter, code int) { writeFaultText(w, code, "") }

// writeFaultText is writeFault with a chosen errorDescription (empty: the
// spec's name for the code), written raw but for &, < and >.
func writeFaultText(w http.ResponseWriter, code int, text string) {
	desc := upnpErrors[code]
	if desc == "" {
		desc = "Error"
	}
	if text != "" {
		desc = text
	}
	var b bytes.Buffer
	b.WriteString(xml.Header)
	fmt.Fprintf(&b, `<s:Envelope xmlns:s="%s" s:encodingStyle="%s"><s:Body><s:Fault>`, soapEnvNS, soapEncNS)
	b.WriteString(`<faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail>`)
	b.WriteString(`<UPnPError xmlns="urn:schemas-upnp-org:control-1-0">`)
	tag(&b, "errorCode", strconv.Itoa(code))
	b.WriteString("<errorDescription>" + markupEscaper.Replace(desc) + "</errorDescription>")
	b.WriteString(`</UPnPError></detail></s:Fault></s:Body></s:Envelope>`)
	w.Header().Set("Content-Type", `text/xml; charset="utf-8"`)
	w.WriteHeader(http.StatusInternalServerError)
	_, _ = w.Write(b.Bytes())
}

// markupEscaper escapes only what would change the document's structure.
var markupEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// attrEscape escapes s for a double-quoted XML attribute.
func attrEscape(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
