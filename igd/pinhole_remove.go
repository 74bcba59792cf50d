package igd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
)

// expireLease is the lease RemovePinhole sets when DeletePinhole is refused:
// the shortest the service allows, so the pinhole closes at the gateway's
// next expiry sweep (within seconds on miniupnpd).
const expireLease = MinPinholeLease

// RemovePinhole closes pinhole uniqueID: it sends DeletePinhole and, when
// the gateway refuses that with 606 (ErrNotAuthorized), which some do for a
// pinhole they accepted from the same host (miniupnp #600), sends
// UpdatePinhole with a lease of one second instead, so the pinhole expires
// moments later. It returns nil when either worked.
//
// A pinhole that is already gone (704, or miniupnpd's 402; see
// IsPinholeGone) is reported as is, and the caller decides whether that is
// success. On miniupnpd a 606 means the request came from another address
// than the pinhole's, and UpdatePinhole gets the same 606: send from the
// pinhole's address (Client.LocalAddr) instead. When both
// requests fail, the error wraps both (errors.Is works on either), the
// DeletePinhole refusal first.
func (c *Client) RemovePinhole(ctx context.Context, uniqueID uint16) error {
	err := c.DeletePinhole(ctx, uniqueID)
	var ue *UPnPError
	if err == nil || !errors.As(err, &ue) || ue.Code != CodeActionNotAuthorized {
		return err
	}
	if c.Logger != nil {
		c.Logger.LogAttrs(ctx, slog.LevelDebug, "igd: DeletePinhole refused; letting the pinhole expire",
			slog.Int("unique_id", int(uniqueID)), slog.Duration("lease", expireLease))
	}
	uerr := c.UpdatePinhole(ctx, uniqueID, expireLease)
	if uerr == nil {
		return nil
	}
	return fmt.Errorf("%w; workaround (UpdatePinhole to %v) failed too: %w", err, expireLease, uerr)
}
