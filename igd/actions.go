package igd

import (
	"context"
	"errors"
	"fmt"
	"strconv"
)

// Action names, as sent in SOAPAction and as the element name.
const (
	actionAddPortMapping              = "AddPortMapping"
	actionAddAnyPortMapping           = "AddAnyPortMapping"
	actionDeletePortMapping           = "DeletePortMapping"
	actionDeletePortMappingRange      = "DeletePortMappingRange"
	actionGetSpecificPortMappingEntry = "GetSpecificPortMappingEntry"
	actionGetGenericPortMappingEntry  = "GetGenericPortMappingEntry"
	actionGetListOfPortMappings       = "GetListOfPortMappings"
	actionGetExternalIPAddress        = "GetExternalIPAddress"
	actionGetStatusInfo               = "GetStatusInfo"
	actionGetConnectionTypeInfo       = "GetConnectionTypeInfo"
)

// AddPortMapping creates the mapping m, or renews it: the same RemoteHost,
// ExternalPort, Protocol and InternalClient overwrites the existing entry
// (WANIPConnection:1 §2.4.16), which is how leases are extended.
//
// m.ExternalPort 0 and m.InternalPort 0 are refused without sending. Errors
// to expect: ErrConflict (718/729: another host holds the port; try another
// port or AddAnyPortMapping), ErrOnlyPermanentLeases (725; see
// IsRetryWithPermanentLease), ErrNotAuthorized (606: IGD:2 or secure mode
// and InternalClient is not the caller), ErrInvalidArgs (402).
func (c *Client) AddPortMapping(ctx context.Context, m PortMapping) error {
	if m.ExternalPort == 0 {
		return fmt.Errorf("igd: %s: %w: external port 0 is a wildcard on some routers; use AddAnyPortMapping", actionAddPortMapping, ErrInvalidArgs)
	}
	args, err := mappingArgs(&m)
	if err != nil {
		return fmt.Errorf("igd: %s: %w", actionAddPortMapping, err)
	}
	_, err = c.call(ctx, actionAddPortMapping, args)
	return err
}

// AddAnyPortMapping (IGD:2 only) asks for m and lets the gateway choose
// another external port if m.ExternalPort is taken (0 means any port). It
// returns the port the gateway reserved. Lease 0 means the maximum, 604800 s,
// under IGD:2; some IGD:2 stacks answer 402 to it, so prefer a real lease.
//
// On an IGD:1 service it fails with ErrUnsupported without sending.
func (c *Client) AddAnyPortMapping(ctx context.Context, m PortMapping) (reserved uint16, err error) {
	if err := c.requireV2(actionAddAnyPortMapping); err != nil {
		return 0, err
	}
	args, err := mappingArgs(&m)
	if err != nil {
		return 0, fmt.Errorf("igd: %s: %w", actionAddAnyPortMapping, err)
	}
	r, err := c.call(ctx, actionAddAnyPortMapping, args)
	if err != nil {
		return 0, err
	}
	f := r.fields()
	port := f.port("NewReservedPort")
	if f.err == nil && port == 0 {
		f.err = errors.New("NewReservedPort is 0")
	}
	if f.err != nil {
		return 0, r.bad(f.err)
	}
	return port, nil
}

// DeletePortMapping removes the mapping of externalPort/protocol (and
// remoteHost, "" for the wildcard). A mapping that does not exist gives
// ErrNoSuchEntry (714) on some routers and success on others (miniupnpd);
// treat both as "gone".
func (c *Client) DeletePortMapping(ctx context.Context, remoteHost string, externalPort uint16, protocol string) error {
	args, err := entryKeyArgs(remoteHost, externalPort, protocol)
	if err != nil {
		return fmt.Errorf("igd: %s: %w", actionDeletePortMapping, err)
	}
	_, err = c.call(ctx, actionDeletePortMapping, args)
	return err
}

// DeletePortMappingRange (IGD:2 only) removes the mappings with external
// ports in [start, end] for protocol. manage=false limits it to mappings
// the caller created; true asks for all, which needs the gateway's
// permission (606 otherwise). No mapping in range gives ErrNoSuchEntry (730).
func (c *Client) DeletePortMappingRange(ctx context.Context, start, end uint16, protocol string, manage bool) error {
	if err := c.requireV2(actionDeletePortMappingRange); err != nil {
		return err
	}
	proto, err := normalizeProtocol(protocol)
	if err != nil {
		return fmt.Errorf("igd: %s: %w", actionDeletePortMappingRange, err)
	}
	_, err = c.call(ctx, actionDeletePortMappingRange, []arg{
		{"NewStartPort", formatPort(start)},
		{"NewEndPort", formatPort(end)},
		{"NewProtocol", proto},
		{"NewManage", formatBool(manage)},
	})
	return err
}

// GetSpecificPortMappingEntry returns the mapping of externalPort/protocol
// (and remoteHost), or ErrNoSuchEntry (714) when there is none. Use it after
// AddPortMapping to check that the router really holds the mapping: some
// silently keep a manual forward instead (libp2p/go-nat #8).
func (c *Client) GetSpecificPortMappingEntry(ctx context.Context, remoteHost string, externalPort uint16, protocol string) (*PortMapping, error) {
	args, err := entryKeyArgs(remoteHost, externalPort, protocol)
	if err != nil {
		return nil, fmt.Errorf("igd: %s: %w", actionGetSpecificPortMappingEntry, err)
	}
	r, err := c.call(ctx, actionGetSpecificPortMappingEntry, args)
	if err != nil {
		return nil, err
	}
	f := r.fields()
	m := &PortMapping{
		RemoteHost:     remoteHost,
		ExternalPort:   externalPort,
		Protocol:       args[2].value,
		InternalPort:   f.port("NewInternalPort"),
		InternalClient: f.str("NewInternalClient", true),
		Enabled:        f.boolean("NewEnabled"),
		Description:    f.str("NewPortMappingDescription", false),
		LeaseDuration:  f.seconds("NewLeaseDuration"),
	}
	if f.err != nil {
		return nil, r.bad(f.err)
	}
	return m, nil
}

// GetGenericPortMappingEntry returns the mapping at index (0-based) of the
// gateway's table. Past the end it fails with ErrArrayIndexInvalid (713);
// some routers answer 714 (ErrNoSuchEntry) or 402 instead.
func (c *Client) GetGenericPortMappingEntry(ctx context.Context, index int) (*PortMapping, error) {
	if index < 0 || index > 0xffff {
		return nil, fmt.Errorf("igd: %s: %w: index %d outside 0..65535", actionGetGenericPortMappingEntry, ErrInvalidArgs, index)
	}
	r, err := c.call(ctx, actionGetGenericPortMappingEntry, []arg{{"NewPortMappingIndex", strconv.Itoa(index)}})
	if err != nil {
		return nil, err
	}
	f := r.fields()
	m := &PortMapping{
		RemoteHost:     f.str("NewRemoteHost", false),
		ExternalPort:   f.port("NewExternalPort"),
		Protocol:       f.proto("NewProtocol"),
		InternalPort:   f.port("NewInternalPort"),
		InternalClient: f.str("NewInternalClient", true),
		Enabled:        f.boolean("NewEnabled"),
		Description:    f.str("NewPortMappingDescription", false),
		LeaseDuration:  f.seconds("NewLeaseDuration"),
	}
	if f.err != nil {
		return nil, r.bad(f.err)
	}
	return m, nil
}

// entryKeyArgs returns NewRemoteHost, NewExternalPort, NewProtocol.
func entryKeyArgs(remoteHost string, externalPort uint16, protocol string) ([]arg, error) {
	proto, err := normalizeProtocol(protocol)
	if err != nil {
		return nil, err
	}
	return []arg{
		{"NewRemoteHost", remoteHost},
		{"NewExternalPort", formatPort(externalPort)},
		{"NewProtocol", proto},
	}, nil
}
