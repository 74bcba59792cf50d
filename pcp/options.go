package pcp

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// Option codes of RFC 6887 §13. Codes 0–127 are mandatory to process (a
// server that does not know one answers UNSUPP_OPTION), 128–255 optional.
const (
	OptionThirdParty    uint8 = 1 // 16-byte internal address; MAP and PEER
	OptionPreferFailure uint8 = 2 // no data; MAP only
	OptionFilter        uint8 = 3 // 20 bytes; MAP only
)

const (
	optionHeaderSize = 4
	thirdPartySize   = 16
	filterSize       = 20
)

// Option is one option as it appeared in a response: code and data without
// the padding.
type Option struct {
	Code uint8
	Data []byte
}

// Filter is a FILTER option (§13.3): only Remote may send to the mapping.
// Several filters add up; the server may refuse too many with
// EXCESSIVE_REMOTE_PEERS.
type Filter struct {
	// PrefixLen is how many leading bits of Remote's address must match,
	// counted in the address's own family: 0–32 for IPv4, 0–128 for IPv6.
	// (On the wire an IPv4 prefix is counted in its IPv4-mapped form, i.e.
	// 96 more; the encoder adds that.)
	PrefixLen uint8
	// Remote is the allowed peer; port 0 means every port. The zero
	// AddrPort means "no filter": the server drops the filters it had.
	Remote netip.AddrPort
}

// appendFilter appends a FILTER option.
func appendFilter(b []byte, f Filter) ([]byte, error) {
	var prefix uint8
	var addr [16]byte
	if a := f.Remote.Addr(); a.IsValid() {
		switch {
		case a.Unmap().Is4():
			if f.PrefixLen > 32 {
				return nil, fmt.Errorf("pcp: FILTER prefix /%d for the IPv4 address %v", f.PrefixLen, a)
			}
			prefix = 96 + f.PrefixLen
		default:
			if f.PrefixLen > 128 {
				return nil, fmt.Errorf("pcp: FILTER prefix /%d for the IPv6 address %v", f.PrefixLen, a)
			}
			prefix = f.PrefixLen
		}
		addr = addr16(a)
	} else if f.Remote.Port() != 0 || f.PrefixLen != 0 {
		return nil, fmt.Errorf("pcp: FILTER %+v has a port or prefix but no address", f)
	}
	b = append(b, OptionFilter, 0, 0, filterSize, 0, prefix)
	b = binary.BigEndian.AppendUint16(b, f.Remote.Port())
	return append(b, addr[:]...), nil
}

// appendThirdParty appends a THIRD_PARTY option.
func appendThirdParty(b []byte, a netip.Addr) []byte {
	b = append(b, OptionThirdParty, 0, 0, thirdPartySize)
	x := addr16(a)
	return append(b, x[:]...)
}

// appendPreferFailure appends a PREFER_FAILURE option.
func appendPreferFailure(b []byte) []byte {
	return append(b, OptionPreferFailure, 0, 0, 0)
}

// parseOptions splits the options part of a message. Each option is a 4-byte
// header (code, reserved, length) and its data padded to 4 bytes; the
// message must end exactly after the last one. The data is copied.
func parseOptions(b []byte) ([]Option, error) {
	if len(b) == 0 {
		return nil, nil
	}
	own := append([]byte(nil), b...) // one copy; Data slices share it
	var opts []Option
	for len(own) > 0 {
		if len(own) < optionHeaderSize {
			return nil, fmt.Errorf("%w: %d stray bytes after the options", ErrMalformed, len(own))
		}
		code, n := own[0], int(binary.BigEndian.Uint16(own[2:4]))
		padded := (n + 3) &^ 3
		if optionHeaderSize+padded > len(own) {
			return nil, fmt.Errorf("%w: option %d claims %d bytes, %d left", ErrMalformed, code, n, len(own)-optionHeaderSize)
		}
		data := own[optionHeaderSize : optionHeaderSize+n : optionHeaderSize+n]
		opts = append(opts, Option{Code: code, Data: data})
		own = own[optionHeaderSize+padded:]
	}
	return opts, nil
}

// ThirdParty returns the address of a well-formed THIRD_PARTY option.
func (r *Response) ThirdParty() (netip.Addr, bool) {
	for _, o := range r.Options {
		if o.Code == OptionThirdParty && len(o.Data) == thirdPartySize {
			return netip.AddrFrom16([16]byte(o.Data)).Unmap(), true
		}
	}
	return netip.Addr{}, false
}

// PreferFailure reports whether the response carries PREFER_FAILURE.
func (r *Response) PreferFailure() bool {
	for _, o := range r.Options {
		if o.Code == OptionPreferFailure {
			return true
		}
	}
	return false
}

// Filters returns the well-formed FILTER options of the response (a server
// echoes the filters it accepted), in the form Filter uses.
func (r *Response) Filters() []Filter {
	var fs []Filter
	for _, o := range r.Options {
		if o.Code != OptionFilter || len(o.Data) != filterSize {
			continue
		}
		prefix := o.Data[1]
		port := binary.BigEndian.Uint16(o.Data[2:4])
		a := netip.AddrFrom16([16]byte(o.Data[4:20]))
		if prefix == 0 && a.Unmap().IsUnspecified() && port == 0 {
			fs = append(fs, Filter{}) // "no filter"
			continue
		}
		if a.Is4In6() {
			if prefix < 96 || prefix > 128 {
				continue
			}
			prefix -= 96
		} else if prefix > 128 {
			continue
		}
		fs = append(fs, Filter{PrefixLen: prefix, Remote: netip.AddrPortFrom(a.Unmap(), port)})
	}
	return fs
}
