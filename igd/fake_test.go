package igd

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// A fake control endpoint on 127.0.0.1: it records every request (parsed and
// as raw bytes from the wire) and answers with what the test's handler says.

type recorded struct {
	method, path string
	header       http.Header
	close        bool
	body         string
	raw          string // request bytes as read from the connection
}

// answer is what the fake sends back: a status and a body. Zero status = 200.
type answer struct {
	status int
	body   string
	header map[string]string
}

type fakeRouter struct {
	t      testing.TB
	srv    *httptest.Server
	handle func(action string, body string) answer

	mu   sync.Mutex
	reqs []recorded
	raws []*bytes.Buffer // one per accepted connection, in accept order
}

func newFake(t testing.TB, handle func(action, body string) answer) *fakeRouter {
	t.Helper()
	f := &fakeRouter{t: t, handle: handle}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	f.srv.Listener = &recListener{Listener: ln, f: f}
	f.srv.Start()
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeRouter) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.reqs = append(f.reqs, recorded{
		method: r.Method, path: r.URL.Path, header: r.Header.Clone(),
		close: r.Close, body: string(body),
	})
	f.mu.Unlock()
	action := r.Header.Get("SOAPAction")
	if i := strings.LastIndexByte(action, '#'); i >= 0 {
		action = strings.Trim(action[i+1:], `"`)
	}
	a := f.handle(action, string(body))
	for k, v := range a.header {
		w.Header().Set(k, v)
	}
	if a.status == 0 {
		a.status = http.StatusOK
	}
	w.WriteHeader(a.status)
	_, _ = io.WriteString(w, a.body)
}

// client returns a Client for the fake's /ctl endpoint.
func (f *fakeRouter) client(serviceType string) *Client {
	u, err := url.Parse(f.srv.URL + "/ctl")
	if err != nil {
		f.t.Fatal(err)
	}
	return &Client{ControlURL: u, ServiceType: serviceType}
}

func (f *fakeRouter) requests() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := append([]recorded(nil), f.reqs...)
	for i := range out {
		if i < len(f.raws) {
			out[i].raw = f.raws[i].String()
		}
	}
	return out
}

func (f *fakeRouter) last() recorded {
	f.t.Helper()
	r := f.requests()
	if len(r) == 0 {
		f.t.Fatal("the fake router received no request")
	}
	return r[len(r)-1]
}

type recListener struct {
	net.Listener
	f *fakeRouter
}

func (l *recListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	buf := new(bytes.Buffer)
	l.f.mu.Lock()
	l.f.raws = append(l.f.raws, buf)
	l.f.mu.Unlock()
	return &recConn{Conn: c, mu: &l.f.mu, buf: buf}, nil
}

type recConn struct {
	net.Conn
	mu  *sync.Mutex
	buf *bytes.Buffer
}

func (c *recConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	c.buf.Write(p[:n])
	c.mu.Unlock()
	return n, err
}

// Canned replies, shaped like miniupnpd's.

const (
	testEnvHead = `<?xml version="1.0"?>` + "\r\n" +
		`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body>`
	testEnvTail = "</s:Body></s:Envelope>\r\n"
)

// okReply is a successful response with the given name/value pairs (values
// written as given: escape them yourself).
func okReply(serviceType, action string, kv ...string) answer {
	var b strings.Builder
	b.WriteString(testEnvHead)
	b.WriteString(`<u:` + action + `Response xmlns:u="` + serviceType + `">`)
	for i := 0; i+1 < len(kv); i += 2 {
		b.WriteString("<" + kv[i] + ">" + kv[i+1] + "</" + kv[i] + ">")
	}
	b.WriteString(`</u:` + action + `Response>`)
	b.WriteString(testEnvTail)
	return answer{body: b.String()}
}

// faultReply is miniupnpd's SoapError: HTTP 500 with a UPnPError.
func faultReply(code int, desc string) answer {
	return answer{status: 500, body: testEnvHead +
		`<s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail>` +
		`<UPnPError xmlns="urn:schemas-upnp-org:control-1-0"><errorCode>` + strconv.Itoa(code) +
		`</errorCode><errorDescription>` + desc + `</errorDescription></UPnPError></detail></s:Fault>` +
		testEnvTail}
}

// wantRequest is the request body this package must send for action with
// the given in-arguments (already escaped), written independently of the
// package's own constants.
func wantRequest(serviceType, action string, kv ...string) string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0"?>` + "\r\n" +
		`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body>`)
	b.WriteString(`<u:` + action + ` xmlns:u="` + serviceType + `">`)
	for i := 0; i+1 < len(kv); i += 2 {
		b.WriteString("<" + kv[i] + ">" + kv[i+1] + "</" + kv[i] + ">")
	}
	b.WriteString(`</u:` + action + `></s:Body></s:Envelope>` + "\r\n")
	return b.String()
}
