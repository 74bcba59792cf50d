package upnpmap

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/upnpmap/upnpmap/igd"
	"github.com/upnpmap/upnpmap/pcp"
)

// deletePinhole is Client.Delete for an IPv6 pinhole (d.InternalAddr is
// IPv6) that no live Mapping holds: a PCP delete with d.Nonce to the IPv6
// router, or a UPnP RemovePinhole of d.PinholeID at Client.Location6 (or
// the derived URL), sent from d.InternalAddr. A pinhole already gone is
// success.
func (gw *gateway) deletePinhole(ctx context.Context, d DeleteRequest) error {
	port := d.InternalPort
	if port == 0 {
		port = d.ExternalPort
	}
	if port == 0 {
		return fmt.Errorf("upnpmap: %w: a pinhole delete needs its port", ErrInvalidArgs)
	}
	usePCP := d.Method == PCP || (d.Method == "" && d.Nonce != [12]byte{})
	if usePCP {
		srv, ok := gw.c.pcp6Target()
		if !ok {
			return fmt.Errorf("upnpmap: %w: no IPv6 router to send the PCP delete to", ErrNoGateway)
		}
		cl := &pcp.Client{Server: srv, Logger: gw.c.Logger}
		return gw.call(ctx, func(ctx context.Context) error {
			return cl.Delete(ctx, &pcp.MapResponse{Nonce: d.Nonce, Protocol: d.Protocol.ianaNumber(),
				InternalPort: port, External: netip.AddrPortFrom(d.InternalAddr, port)})
		})
	}
	if d.PinholeID == 0 {
		return fmt.Errorf("upnpmap: %w: a UPnP pinhole delete needs its UniqueID (PinholeID)", ErrInvalidArgs)
	}
	loc := gw.location6()
	if loc == nil {
		return fmt.Errorf("upnpmap: %w: no IPv6 description URL for the UPnP pinhole delete (set Client.Location6)", ErrNoGateway)
	}
	u := &upnpPinhole{pinholeBase: pinholeBase{gw}, location: loc}
	return gw.call(ctx, func(ctx context.Context) error {
		cl, err := u.client(ctx, d.InternalAddr)
		if err != nil {
			return err
		}
		err = cl.RemovePinhole(ctx, d.PinholeID)
		if igd.IsPinholeGone(err) {
			return nil
		}
		return err
	})
}
