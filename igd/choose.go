package igd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/upnpmap/upnpmap/internal/errs"
)

// maxChooseCandidates bounds the GetStatusInfo requests Choose sends: a
// multi-WAN router has two or three connection services; a description
// listing more is not worth a request each.
const maxChooseCandidates = 8

// Choose picks the connection service to map on from candidates, which the
// caller lists in order of preference (one Client per service of the device
// description, in the order of ServiceTypes). It is what miniupnpc's
// UPNP_GetValidIGD and Tailscale's selectBestService do:
//
//   - With one candidate it returns it, sending nothing.
//   - With several (a multi-WAN router such as MikroTik, or a gateway offering
//     both an IP and a PPP connection), it asks each in turn for
//     GetStatusInfo and returns the first whose status is connected (see
//     StatusInfo.Connected), with that status.
//   - If none says so, it returns the first that answered GetStatusInfo, with
//     its status, and failing that the first candidate, with a nil status:
//     some routers implement GetStatusInfo badly or not at all, and mapping
//     on the preferred service is still worth trying.
//
// At most the first 8 candidates are asked. Requests go one at a time, as
// every request to a router does here. An empty candidates list is an error
// wrapping errs.UnusableDevice; the context ending is reported as such. A
// candidate's failure is not an error of Choose: the next is asked.
func Choose(ctx context.Context, candidates []*Client) (*Client, *StatusInfo, error) {
	switch len(candidates) {
	case 0:
		return nil, nil, fmt.Errorf("igd: %w: no WANIPConnection or WANPPPConnection service to choose from", errs.UnusableDevice)
	case 1:
		return candidates[0], nil, nil
	}
	log := candidates[0].Logger
	var answered *Client
	var answeredStatus *StatusInfo
	for i, c := range candidates {
		if i == maxChooseCandidates {
			break
		}
		st, err := c.GetStatusInfo(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil, nil, chooseCtxError(ctx, err)
			}
			continue
		}
		if st.Connected() {
			logChoice(ctx, log, c, st, "connected")
			return c, st, nil
		}
		if answered == nil {
			answered, answeredStatus = c, st
		}
	}
	if answered != nil {
		logChoice(ctx, log, answered, answeredStatus, "none connected; first that answered")
		return answered, answeredStatus, nil
	}
	logChoice(ctx, log, candidates[0], nil, "no status answered; most preferred")
	return candidates[0], nil, nil
}

// chooseCtxError reports the context's end, keeping the call's error (which
// already wraps ErrTimeout for a deadline) in the chain.
func chooseCtxError(ctx context.Context, err error) error {
	if errors.Is(err, ctx.Err()) {
		return fmt.Errorf("igd: choosing a connection service: %w", err)
	}
	return fmt.Errorf("igd: choosing a connection service: %w: %w", ctx.Err(), err)
}

func logChoice(ctx context.Context, log *slog.Logger, c *Client, st *StatusInfo, why string) {
	if log == nil {
		return
	}
	status := ""
	if st != nil {
		status = st.ConnectionStatus
	}
	log.LogAttrs(ctx, slog.LevelDebug, "igd: chose connection service",
		slog.String("type", c.ServiceType),
		slog.String("control", c.ControlURL.Redacted()),
		slog.String("status", status),
		slog.String("why", why))
}
