package pcp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"time"
)

// Wire constants of RFC 6887.
const (
	Version        = 2    // the PCP version this package speaks
	Port           = 5351 // the server's port
	ClientPort     = 5350 // where servers send unsolicited responses (224.0.0.1, ff02::1)
	MaxMessageSize = 1100 // §7: no request or response is longer

	OpAnnounce uint8 = 0
	OpMap      uint8 = 1
	OpPeer     uint8 = 2

	// IANA protocol numbers for MapRequest.Protocol and PeerRequest.Protocol.
	TCP uint8 = 6
	UDP uint8 = 17

	responseBit = 0x80
)

const (
	headerSize = 24 // request and response header
	mapSize    = 36 // MAP opcode data
	peerSize   = 56 // PEER opcode data
	natpmpSize = 8  // NAT-PMP's unsupported-version reply
)

// appendHeader appends a request header: version, opcode, reserved,
// lifetime, and the client's address (IPv4 as IPv4-mapped, §5).
func appendHeader(b []byte, op uint8, lifetime time.Duration, client netip.Addr) []byte {
	b = append(b, Version, op, 0, 0)
	b = binary.BigEndian.AppendUint32(b, seconds(lifetime))
	a := addr16(client)
	return append(b, a[:]...)
}

// AppendAnnounceRequest appends an ANNOUNCE request (§14.1) from client to b.
// It has no data and lifetime 0; it serves as a probe and as an epoch check.
func AppendAnnounceRequest(b []byte, client netip.Addr) []byte {
	return appendHeader(b, OpAnnounce, 0, client)
}

// AppendMapRequest appends a MAP request (§11.1) from client to b, with the
// options req asks for. It sends req.Nonce as it is (Client.Map fills a zero
// one in). client must be the address the packet leaves from, or the server
// answers ADDRESS_MISMATCH.
func AppendMapRequest(b []byte, client netip.Addr, req *MapRequest) ([]byte, error) {
	if err := checkCommon(client, req.Protocol, req.InternalPort); err != nil {
		return nil, err
	}
	start := len(b)
	b = appendHeader(b, OpMap, req.Lifetime, client)
	b = appendMapData(b, client, req.Nonce, req.Protocol, req.InternalPort, req.SuggestedExternal)
	if req.ThirdParty.IsValid() {
		b = appendThirdParty(b, req.ThirdParty)
	}
	if req.PreferFailure {
		b = appendPreferFailure(b)
	}
	for _, f := range req.Filters {
		var err error
		if b, err = appendFilter(b, f); err != nil {
			return nil, err
		}
	}
	if n := len(b) - start; n > MaxMessageSize {
		return nil, fmt.Errorf("pcp: MAP request of %d bytes (%d filters) exceeds %d", n, len(req.Filters), MaxMessageSize)
	}
	return b, nil
}

// AppendPeerRequest appends a PEER request (§12.1) from client to b.
func AppendPeerRequest(b []byte, client netip.Addr, req *PeerRequest) ([]byte, error) {
	if err := checkCommon(client, req.Protocol, req.InternalPort); err != nil {
		return nil, err
	}
	if !req.Remote.Addr().IsValid() {
		return nil, errors.New("pcp: PEER needs the remote peer's address")
	}
	b = appendHeader(b, OpPeer, req.Lifetime, client)
	b = appendMapData(b, client, req.Nonce, req.Protocol, req.InternalPort, req.SuggestedExternal)
	b = binary.BigEndian.AppendUint16(b, req.Remote.Port())
	b = append(b, 0, 0)
	a := addr16(req.Remote.Addr())
	b = append(b, a[:]...)
	if req.ThirdParty.IsValid() {
		b = appendThirdParty(b, req.ThirdParty)
	}
	return b, nil
}

func checkCommon(client netip.Addr, proto uint8, internalPort uint16) error {
	if !client.IsValid() {
		return errors.New("pcp: no client address for the request header")
	}
	if proto == 0 && internalPort != 0 {
		return fmt.Errorf("pcp: protocol 0 (all) needs internal port 0, not %d", internalPort)
	}
	return nil
}

// appendMapData appends the 36 bytes MAP and PEER share: nonce, protocol,
// internal port, suggested external port and address. No suggested address
// is sent as the all-zeros address of the client's family (§11.1).
func appendMapData(b []byte, client netip.Addr, nonce Nonce, proto uint8, internalPort uint16, suggested netip.AddrPort) []byte {
	b = append(b, nonce[:]...)
	b = append(b, proto, 0, 0, 0)
	b = binary.BigEndian.AppendUint16(b, internalPort)
	b = binary.BigEndian.AppendUint16(b, suggested.Port())
	ext := suggested.Addr()
	if !ext.IsValid() {
		ext = netip.IPv6Unspecified()
		if client.Unmap().Is4() {
			ext = netip.IPv4Unspecified()
		}
	}
	a := addr16(ext)
	return append(b, a[:]...)
}

// Response is a parsed PCP response.
type Response struct {
	Version  uint8 // 2, except in an UNSUPP_VERSION answer from a server that speaks another
	Opcode   uint8 // without the response bit
	Result   ResultCode
	Lifetime time.Duration // the mapping's lifetime, or for an error how long it will last
	Epoch    uint32        // the server's epoch time (§8.5)

	// HasData reports that the opcode data below is present: always in a
	// successful MAP or PEER response, not always in an error.
	HasData      bool
	Nonce        Nonce
	Protocol     uint8
	InternalPort uint16
	External     netip.AddrPort // the assigned external address and port
	Remote       netip.AddrPort // PEER only

	Options []Option

	// GatewayReset is set by Client.CheckUnsolicited when the §8.5 check
	// finds that the server lost its state; ParseResponse leaves it false.
	GatewayReset bool
}

// Err returns nil for SUCCESS and a *ResultError otherwise.
func (r *Response) Err() error {
	if r.Result == Success {
		return nil
	}
	return &ResultError{Opcode: r.Opcode, Code: r.Result, Lifetime: r.Lifetime, Version: r.Version}
}

// ParseResponse parses a PCP response, solicited or not (an unsolicited
// ANNOUNCE or MAP on port 5350, §14). It rejects what §8.3 tells clients to
// drop: shorter than 24 bytes, longer than 1100, not a multiple of 4, the
// response bit clear, a version other than 2 (except an UNSUPP_VERSION
// answer, which parses so that its Err reports the version), an opcode it
// does not know, and options that overrun the message. NAT-PMP's 8-byte
// unsupported-version reply yields an error matching ErrSpeaksNATPMP. Other
// errors match ErrMalformed.
func ParseResponse(b []byte) (*Response, error) {
	if len(b) >= natpmpSize && b[0] == 0 {
		if binary.BigEndian.Uint16(b[2:4]) == 1 {
			return nil, ErrSpeaksNATPMP
		}
		return nil, fmt.Errorf("%w: a NAT-PMP packet, not PCP", ErrMalformed)
	}
	switch {
	case len(b) < headerSize:
		return nil, fmt.Errorf("%w: PCP response of %d bytes", ErrMalformed, len(b))
	case len(b) > MaxMessageSize:
		return nil, fmt.Errorf("%w: PCP response of %d bytes, more than %d", ErrMalformed, len(b), MaxMessageSize)
	case len(b)%4 != 0:
		return nil, fmt.Errorf("%w: PCP response of %d bytes, not a multiple of 4", ErrMalformed, len(b))
	case b[1]&responseBit == 0:
		return nil, fmt.Errorf("%w: a PCP request, not a response", ErrMalformed)
	}
	r := &Response{
		Version:  b[0],
		Opcode:   b[1] &^ responseBit,
		Result:   ResultCode(b[3]),
		Lifetime: time.Duration(binary.BigEndian.Uint32(b[4:8])) * time.Second,
		Epoch:    binary.BigEndian.Uint32(b[8:12]),
	}
	if r.Version != Version {
		if r.Result == UnsuppVersion {
			return r, nil // the header is all a version mismatch can promise
		}
		return nil, fmt.Errorf("%w: PCP version %d", ErrMalformed, r.Version)
	}
	var size int
	switch r.Opcode {
	case OpAnnounce:
		size = 0
	case OpMap:
		size = mapSize
	case OpPeer:
		size = peerSize
	default:
		if r.Result != Success {
			return r, nil // e.g. UNSUPP_OPCODE for an opcode we do not know either
		}
		return nil, fmt.Errorf("%w: unknown PCP opcode %d", ErrMalformed, r.Opcode)
	}
	body := b[headerSize:]
	if len(body) < size {
		if r.Result != Success {
			return r, nil // an error may come with the header alone
		}
		return nil, fmt.Errorf("%w: %s response of %d bytes", ErrMalformed, opName(r.Opcode), len(b))
	}
	if size > 0 {
		r.HasData = true
		d := body[:size]
		r.Nonce = Nonce(d[0:12])
		r.Protocol = d[12]
		r.InternalPort = binary.BigEndian.Uint16(d[16:18])
		r.External = netip.AddrPortFrom(addrFrom16(d[20:36]), binary.BigEndian.Uint16(d[18:20]))
		if r.Opcode == OpPeer {
			r.Remote = netip.AddrPortFrom(addrFrom16(d[40:56]), binary.BigEndian.Uint16(d[36:38]))
		}
	}
	opts, err := parseOptions(body[size:])
	if err != nil {
		if r.Result != Success {
			return r, nil // the error matters more than its garbled options
		}
		return nil, err
	}
	r.Options = opts
	return r, nil
}

// addr16 is a's 16-byte wire form (IPv4 as IPv4-mapped IPv6, §5).
func addr16(a netip.Addr) [16]byte {
	if !a.IsValid() {
		return [16]byte{}
	}
	return a.As16()
}

// addrFrom16 reads a wire address, unmapping IPv4.
func addrFrom16(b []byte) netip.Addr {
	return netip.AddrFrom16([16]byte(b)).Unmap()
}

// seconds converts a lifetime to whole seconds: rounded up, so a positive
// duration never turns into a delete, and saturating at 2³²-1.
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
