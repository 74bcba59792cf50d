package natpmp

import (
	"encoding/binary"
	"fmt"
	"math"
	"net/netip"
	"time"
)

// Wire constants of RFC 6886.
const (
	Version      = 0    // the version byte of every NAT-PMP packet
	Port         = 5351 // the gateway's port
	AnnouncePort = 5350 // where gateways multicast announcements (224.0.0.1)

	OpExternalAddress uint8 = 0
	OpMapUDP          uint8 = 1
	OpMapTCP          uint8 = 2

	opReply = 128 // a response's opcode is the request's plus 128
)

// Sizes of the messages RFC 6886 defines.
const (
	externalAddressRequestSize  = 2
	mapRequestSize              = 12
	errorResponseSize           = 8 // version, opcode, result, epoch
	externalAddressResponseSize = 12
	mapResponseSize             = 16
)

// Protocol selects the mapping opcode; the values are the opcodes.
type Protocol uint8

// The two protocols NAT-PMP maps.
const (
	UDP Protocol = Protocol(OpMapUDP)
	TCP Protocol = Protocol(OpMapTCP)
)

func (p Protocol) String() string {
	switch p {
	case UDP:
		return "UDP"
	case TCP:
		return "TCP"
	}
	return fmt.Sprintf("Protocol(%d)", uint8(p))
}

// AppendExternalAddressRequest appends the 2-byte external address request
// (§3.2) to b.
func AppendExternalAddressRequest(b []byte) []byte {
	return append(b, Version, OpExternalAddress)
}

// AppendMapRequest appends a 12-byte mapping request (§3.3) to b. The
// lifetime is sent in whole seconds, rounded up; 0 asks for a delete (§3.4).
func AppendMapRequest(b []byte, proto Protocol, internalPort, suggestedExternalPort uint16, lifetime time.Duration) []byte {
	b = append(b, Version, uint8(proto), 0, 0)
	b = binary.BigEndian.AppendUint16(b, internalPort)
	b = binary.BigEndian.AppendUint16(b, suggestedExternalPort)
	return binary.BigEndian.AppendUint32(b, seconds(lifetime))
}

// Response is a parsed NAT-PMP response or announcement.
type Response struct {
	Op     uint8 // the request's opcode (the reply carries Op+128)
	Result ResultCode
	Epoch  uint32 // seconds since the gateway's start of epoch (SSSoE)

	// Set on a successful external address response (Op 0).
	ExternalAddr netip.Addr
	// Set on a successful mapping response (Op 1 or 2).
	InternalPort uint16
	ExternalPort uint16
	Lifetime     time.Duration
}

// Err returns nil for a successful response and a *ResultError otherwise.
func (r *Response) Err() error {
	if r.Result == Success {
		return nil
	}
	return &ResultError{Op: r.Op, Code: r.Result}
}

// ParseResponse parses a NAT-PMP response. Errors wrap ErrMalformed. A
// response with a non-zero result code parses (its Err reports the code); it
// only needs the 8-byte common part, since RFC 6886 §3.5's unsupported-version
// reply is that short and gateways vary on the others. A successful response
// must be complete; trailing bytes are ignored. ParseResponse does not check
// that the opcode answers any particular request: Client does that.
func ParseResponse(b []byte) (*Response, error) {
	if len(b) < errorResponseSize {
		return nil, fmt.Errorf("%w: NAT-PMP response of %d bytes", ErrMalformed, len(b))
	}
	if b[0] != Version {
		return nil, fmt.Errorf("%w: NAT-PMP version %d", ErrMalformed, b[0])
	}
	r := &Response{
		Op:     b[1] &^ opReply,
		Result: ResultCode(binary.BigEndian.Uint16(b[2:4])),
		Epoch:  binary.BigEndian.Uint32(b[4:8]),
	}
	// RFC 6886's figure of the unsupported-version reply shows opcode 0
	// (miniupnpd sends 128+op): only that reply may lack the response bit.
	if b[1] < opReply && r.Result != UnsupportedVersion {
		return nil, fmt.Errorf("%w: opcode %d is a request, not a response", ErrMalformed, b[1])
	}
	if r.Result != Success {
		return r, nil
	}
	switch r.Op {
	case OpExternalAddress:
		if len(b) < externalAddressResponseSize {
			return nil, fmt.Errorf("%w: external address response of %d bytes", ErrMalformed, len(b))
		}
		r.ExternalAddr = netip.AddrFrom4([4]byte(b[8:12]))
	case OpMapUDP, OpMapTCP:
		if len(b) < mapResponseSize {
			return nil, fmt.Errorf("%w: mapping response of %d bytes", ErrMalformed, len(b))
		}
		r.InternalPort = binary.BigEndian.Uint16(b[8:10])
		r.ExternalPort = binary.BigEndian.Uint16(b[10:12])
		r.Lifetime = time.Duration(binary.BigEndian.Uint32(b[12:16])) * time.Second
	default:
		return nil, fmt.Errorf("%w: unknown response opcode %d", ErrMalformed, b[1])
	}
	return r, nil
}

// seconds converts a lifetime to the protocol's whole seconds: rounded up, so
// that a positive duration never becomes a delete, and saturating at 2³²-1.
func seconds(d time.Duration) uint32 {
	if d <= 0 {
		return 0
	}
	s := (d + time.Second - 1) / time.Second
	if s > math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(s)
}
