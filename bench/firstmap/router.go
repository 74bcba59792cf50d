package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/upnpmap/upnpmap/discovery"
	"github.com/upnpmap/upnpmap/natpmp"
	"github.com/upnpmap/upnpmap/pcp"
)

// maxReply bounds a read: PCP replies are at most 1100 bytes (RFC 6887 §7).
const maxReply = 1100

// routerRTT measures the gateway's own request–reply times on one connected
// UDP socket, with no retransmission and no client logic: the probe request
// a client starts with, one MAP of port, and its delete. Each reply is
// parsed and must be a success.
func routerRTT(ctx context.Context, proto string, port uint16) (string, error) {
	gws, err := discovery.DefaultGateways()
	if err != nil {
		return "", err
	}
	var gw netip.Addr
	for _, g := range gws {
		if g.Addr.Unmap().Is4() {
			gw = g.Addr.Unmap()
			break
		}
	}
	if !gw.IsValid() {
		return "", errors.New("no IPv4 default gateway")
	}
	conn, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(gw, natpmp.Port)))
	if err != nil {
		return "", err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	local := conn.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap()

	switch proto {
	case "natpmp":
		return natpmpRTT(conn, port)
	case "pcp":
		return pcpRTT(conn, local, port)
	}
	return "", fmt.Errorf("-router %q: want pcp or natpmp", proto)
}

// exchange sends req and waits for one reply; the time is write to read.
func exchange(conn *net.UDPConn, req []byte) ([]byte, time.Duration, error) {
	buf := make([]byte, maxReply)
	t := time.Now()
	if _, err := conn.Write(req); err != nil {
		return nil, 0, err
	}
	n, err := conn.Read(buf)
	d := time.Since(t)
	if err != nil {
		return nil, 0, err
	}
	return buf[:n], d, nil
}

func natpmpRTT(conn *net.UDPConn, port uint16) (string, error) {
	step := func(name string, req []byte) (*natpmp.Response, time.Duration, error) {
		b, d, err := exchange(conn, req)
		if err != nil {
			return nil, 0, fmt.Errorf("NAT-PMP %s: %w", name, err)
		}
		r, err := natpmp.ParseResponse(b)
		if err == nil {
			err = r.Err()
		}
		if err != nil {
			return nil, 0, fmt.Errorf("NAT-PMP %s: %w", name, err)
		}
		return r, d, nil
	}
	_, probe, err := step("external address", natpmp.AppendExternalAddressRequest(nil))
	if err != nil {
		return "", err
	}
	r, mapRTT, err := step("map", natpmp.AppendMapRequest(nil, natpmp.TCP, port, port, time.Hour))
	if err != nil {
		return "", err
	}
	_, del, err := step("delete", natpmp.AppendMapRequest(nil, natpmp.TCP, port, 0, 0))
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("lib=router-natpmp first_mapping_ms=%s external_port=%d probe_ms=%s delete_ms=%s",
		ms(mapRTT), r.ExternalPort, ms(probe), ms(del)), nil
}

func pcpRTT(conn *net.UDPConn, local netip.Addr, port uint16) (string, error) {
	step := func(name string, req []byte) (*pcp.Response, time.Duration, error) {
		b, d, err := exchange(conn, req)
		if err != nil {
			return nil, 0, fmt.Errorf("PCP %s: %w", name, err)
		}
		r, err := pcp.ParseResponse(b)
		if err == nil {
			err = r.Err()
		}
		if err != nil {
			return nil, 0, fmt.Errorf("PCP %s: %w", name, err)
		}
		return r, d, nil
	}
	_, probe, err := step("announce", pcp.AppendAnnounceRequest(nil, local))
	if err != nil {
		return "", err
	}
	mr := &pcp.MapRequest{Protocol: pcp.TCP, InternalPort: port, Lifetime: time.Hour, Nonce: pcp.NewNonce(),
		SuggestedExternal: netip.AddrPortFrom(netip.IPv4Unspecified(), port)}
	req, err := pcp.AppendMapRequest(nil, local, mr)
	if err != nil {
		return "", err
	}
	r, mapRTT, err := step("map", req)
	if err != nil {
		return "", err
	}
	if r.Nonce != mr.Nonce {
		return "", errors.New("PCP map: the reply carries another nonce")
	}
	mr.Lifetime = 0
	if req, err = pcp.AppendMapRequest(nil, local, mr); err != nil {
		return "", err
	}
	_, del, err := step("delete", req)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("lib=router-pcp first_mapping_ms=%s external_port=%d probe_ms=%s delete_ms=%s",
		ms(mapRTT), r.External.Port(), ms(probe), ms(del)), nil
}
