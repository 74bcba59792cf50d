package reach

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// Message sizes of wire protocol version 1 (see the package documentation).
const (
	RequestSize = 96
	AnswerSize  = 48
	ProbeSize   = 32
)

// Version is the wire protocol version this package speaks.
const Version = 1

// magic opens every checker message: "UPRC". Its first byte, 0x55, has the top
// bits 01, which no STUN message has, so one UDP port serves both.
var magic = [4]byte{'U', 'P', 'R', 'C'}

// Message types.
const (
	typeRequest = 1
	typeAnswer  = 2
	typeProbe   = 3
	typeEcho    = 4
)

// Proto is the transport protocol of the port being checked.
type Proto uint8

// The protocols, numbered as in IP.
const (
	TCP Proto = 6
	UDP Proto = 17
)

func (p Proto) String() string {
	switch p {
	case TCP:
		return "tcp"
	case UDP:
		return "udp"
	}
	return "proto(" + itoa(int(p)) + ")"
}

func (p Proto) valid() bool { return p == TCP || p == UDP }

// Code is a verdict code on the wire, the checker's account of its probe.
type Code uint8

// The checker's verdict codes.
const (
	CodeEchoed   Code = 1
	CodeOpen     Code = 2
	CodeRefused  Code = 3
	CodeNoAnswer Code = 4
	CodeLimited  Code = 5
	CodeBusy     Code = 6
	CodeBad      Code = 7
)

func (c Code) String() string {
	switch c {
	case CodeEchoed:
		return "ECHOED"
	case CodeOpen:
		return "OPEN"
	case CodeRefused:
		return "REFUSED"
	case CodeNoAnswer:
		return "NO_ANSWER"
	case CodeLimited:
		return "LIMITED"
	case CodeBusy:
		return "BUSY"
	case CodeBad:
		return "BAD"
	}
	return "code(" + itoa(int(c)) + ")"
}

// Nonce is the 128-bit value a request carries and its probe repeats.
type Nonce [16]byte

// request is a parsed checker request.
type request struct {
	proto Proto
	port  uint16
	nonce Nonce
}

// header writes the common first 8 bytes.
func header(b []byte, typ byte, proto Proto, b7 byte) {
	copy(b[0:4], magic[:])
	b[4] = Version
	b[5] = typ
	b[6] = byte(proto)
	b[7] = b7
}

func appendRequest(dst []byte, r request) []byte {
	var b [RequestSize]byte
	header(b[:], typeRequest, r.proto, 0)
	binary.BigEndian.PutUint16(b[8:10], r.port)
	copy(b[12:28], r.nonce[:])
	return append(dst, b[:]...)
}

// checkHeader validates magic, version and type. A wrong version is reported
// apart, so that the server can answer BAD rather than stay silent.
func checkHeader(b []byte, size int, typ byte) error {
	if len(b) != size {
		return fmt.Errorf("length %d, want %d", len(b), size)
	}
	if [4]byte(b[0:4]) != magic {
		return fmt.Errorf("bad magic % x", b[0:4])
	}
	if b[4] != Version {
		return fmt.Errorf("version %d", b[4])
	}
	if b[5] != typ {
		return fmt.Errorf("message type %d, want %d", b[5], typ)
	}
	return nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// parseRequest checks that b is exactly one version-1 request. Padding must be
// zero: a request cannot smuggle an address the checker would use, and a
// request that tries to is refused as malformed.
func parseRequest(b []byte) (request, error) {
	var r request
	if err := checkHeader(b, RequestSize, typeRequest); err != nil {
		return r, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	r.proto = Proto(b[6])
	if !r.proto.valid() {
		return r, fmt.Errorf("%w: protocol %d", ErrBadRequest, b[6])
	}
	if b[7] != 0 || !allZero(b[10:12]) || !allZero(b[28:]) {
		return r, fmt.Errorf("%w: reserved bytes not zero", ErrBadRequest)
	}
	r.port = binary.BigEndian.Uint16(b[8:10])
	if r.port == 0 {
		return r, fmt.Errorf("%w: port 0", ErrBadRequest)
	}
	copy(r.nonce[:], b[12:28])
	return r, nil
}

// answer is a parsed checker answer.
type answer struct {
	proto      Proto
	code       Code
	port       uint16
	observed   netip.AddrPort
	nonce      Nonce
	retryAfter uint16
}

func appendAnswer(dst []byte, a answer) []byte {
	var b [AnswerSize]byte
	header(b[:], typeAnswer, a.proto, byte(a.code))
	binary.BigEndian.PutUint16(b[8:10], a.port)
	binary.BigEndian.PutUint16(b[10:12], a.observed.Port())
	ip := a.observed.Addr()
	if ip.IsValid() {
		as16 := ip.As16() // an IPv4 address comes out in its IPv4-mapped form
		copy(b[12:28], as16[:])
	}
	copy(b[28:44], a.nonce[:])
	binary.BigEndian.PutUint16(b[44:46], a.retryAfter)
	return append(dst, b[:]...)
}

// parseAnswer checks that b is exactly one version-1 answer with a known
// verdict code.
func parseAnswer(b []byte) (answer, error) {
	var a answer
	if err := checkHeader(b, AnswerSize, typeAnswer); err != nil {
		return a, fmt.Errorf("%w: %v", ErrBadAnswer, err)
	}
	a.proto = Proto(b[6])
	a.code = Code(b[7])
	if a.code < CodeEchoed || a.code > CodeBad {
		return a, fmt.Errorf("%w: verdict code %d", ErrBadAnswer, b[7])
	}
	if !allZero(b[46:48]) {
		return a, fmt.Errorf("%w: reserved bytes not zero", ErrBadAnswer)
	}
	a.port = binary.BigEndian.Uint16(b[8:10])
	ip := netip.AddrFrom16([16]byte(b[12:28])).Unmap()
	a.observed = netip.AddrPortFrom(ip, binary.BigEndian.Uint16(b[10:12]))
	copy(a.nonce[:], b[28:44])
	a.retryAfter = binary.BigEndian.Uint16(b[44:46])
	return a, nil
}

// probe is the message the checker sends to the observed address; an echo is
// the same with another type.
type probe struct {
	proto Proto
	port  uint16
	nonce Nonce
}

func appendProbe(dst []byte, p probe, typ byte) []byte {
	var b [ProbeSize]byte
	header(b[:], typ, p.proto, 0)
	binary.BigEndian.PutUint16(b[8:10], p.port)
	copy(b[12:28], p.nonce[:])
	return append(dst, b[:]...)
}

// parseProbe checks that b is one probe (typ = typeProbe) or echo (typeEcho).
func parseProbe(b []byte, typ byte) (probe, error) {
	var p probe
	if err := checkHeader(b, ProbeSize, typ); err != nil {
		return p, fmt.Errorf("%w: %v", ErrBadAnswer, err)
	}
	p.proto = Proto(b[6])
	if !p.proto.valid() || b[7] != 0 || !allZero(b[10:12]) || !allZero(b[28:32]) {
		return p, fmt.Errorf("%w: bad probe fields", ErrBadAnswer)
	}
	p.port = binary.BigEndian.Uint16(b[8:10])
	copy(p.nonce[:], b[12:28])
	return p, nil
}
