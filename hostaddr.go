package upnpmap

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// hostAddr is one of this machine's IPv6 addresses with the kernel's flags
// that matter for choosing the one a pinhole opens.
type hostAddr struct {
	addr netip.Addr
	// temporary: an RFC 8981 privacy address, which rotates; a pinhole for
	// it would close with it.
	temporary bool
	// unusable: deprecated, tentative or failed duplicate detection.
	unusable bool
}

// Flags of /proc/net/if_inet6 (linux/if_addr.h, IFA_F_*).
const (
	ifaTemporary  = 0x01
	ifaDADFailed  = 0x08
	ifaDeprecated = 0x20
	ifaTentative  = 0x40
)

// ulaPrefix is fc00::/7 (RFC 4193): not reachable from the Internet.
var ulaPrefix = netip.MustParsePrefix("fc00::/7")

// stable reports whether a is worth a pinhole: a global unicast IPv6
// address, not unique-local, not temporary, usable.
func (a hostAddr) stable() bool {
	ip := a.addr
	return ip.Is6() && !ip.Is4In6() && ip.Zone() == "" && ip.IsGlobalUnicast() &&
		!ulaPrefix.Contains(ip) && !a.temporary && !a.unusable
}

// pickStable returns the first stable address of addrs.
func pickStable(addrs []hostAddr) (netip.Addr, bool) {
	for _, a := range addrs {
		if a.stable() {
			return a.addr, true
		}
	}
	return netip.Addr{}, false
}

// errIfInet6 is the parse error of a /proc/net/if_inet6 line.
var errIfInet6 = errors.New("malformed /proc/net/if_inet6 line")

// parseIfInet6 reads /proc/net/if_inet6: per line the address as 32 hex
// digits, then the interface index, prefix length, scope and flags in hex,
// then the interface name. A bad line fails the whole parse (it means the
// format is not the one understood here).
func parseIfInet6(b []byte) ([]hostAddr, error) {
	var out []hostAddr
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if len(f) != 6 || len(f[0]) != 32 {
			return nil, fmt.Errorf("%w: %q", errIfInet6, sc.Text())
		}
		raw, err := hex.DecodeString(f[0])
		if err != nil {
			return nil, fmt.Errorf("%w: %q", errIfInet6, sc.Text())
		}
		flags, err := strconv.ParseUint(f[4], 16, 32)
		if err != nil {
			return nil, fmt.Errorf("%w: %q", errIfInet6, sc.Text())
		}
		out = append(out, hostAddr{
			addr:      netip.AddrFrom16([16]byte(raw)),
			temporary: flags&ifaTemporary != 0,
			unusable:  flags&(ifaDADFailed|ifaDeprecated|ifaTentative) != 0,
		})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", errIfInet6, err)
	}
	return out, nil
}

// systemHostAddrs lists this machine's IPv6 addresses. On Linux they come
// with their flags from /proc/net/if_inet6; elsewhere the flags are unknown
// (a temporary address may then be chosen; set Client.HostIPv6 there).
func systemHostAddrs() ([]hostAddr, error) {
	if b, err := os.ReadFile("/proc/net/if_inet6"); err == nil {
		return parseIfInet6(b)
	}
	as, err := net.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	var out []hostAddr
	for _, a := range as {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok && n.IP.To4() == nil {
				out = append(out, hostAddr{addr: ip})
			}
		}
	}
	return out, nil
}

// stableIPv6 is the address a pinhole opens: Client.HostIPv6 when set,
// else the machine's first stable global address (see hostAddr.stable).
// Reading it sends nothing.
func (c *Client) stableIPv6() (netip.Addr, bool) {
	if c.HostIPv6.IsValid() {
		return c.HostIPv6, true
	}
	list := c.hostAddrs
	if list == nil {
		list = systemHostAddrs
	}
	addrs, err := list()
	if err != nil {
		c.log().Debug("listing IPv6 addresses", "err", errText(err))
		return netip.Addr{}, false
	}
	return pickStable(addrs)
}
