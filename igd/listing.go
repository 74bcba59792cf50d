package igd

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// maxListing bounds the entries parsed from one NewPortListing, whatever the
// caller asked for: 65535 is the most NewNumberOfPorts (ui2) can request.
const maxListing = 0xffff

// ListPortMappings enumerates the gateway's whole table with
// GetGenericPortMappingEntry from index 0. It stops at the end of the table,
// which routers signal with 713 (the standard), 714 or 402, and after
// MaxListEntries entries, returning those entries together with ErrTruncated
// (some routers ignore the index and answer the same entry for ever). On any
// other error it returns the entries read so far and the error.
//
// Each entry is one round trip; on an IGD:2 gateway GetListOfPortMappings
// fetches many in one.
func (c *Client) ListPortMappings(ctx context.Context) ([]PortMapping, error) {
	max := min(c.maxList(), maxListing+1)
	var list []PortMapping
	for i := 0; i < max; i++ {
		m, err := c.GetGenericPortMappingEntry(ctx, i)
		if err != nil {
			if isEndOfList(err) {
				return list, nil
			}
			return list, err
		}
		list = append(list, *m)
	}
	return list, fmt.Errorf("igd: ListPortMappings: %w after %d entries (Client.MaxListEntries)", ErrTruncated, max)
}

// isEndOfList reports whether err is a gateway's "no entry at this index".
func isEndOfList(err error) bool {
	var ue *UPnPError
	if !errors.As(err, &ue) {
		return false
	}
	switch ue.Code {
	case CodeSpecifiedArrayIndexInvalid, CodeNoSuchEntryInArray, CodeInvalidArgs:
		return true
	}
	return false
}

// GetListOfPortMappings (IGD:2 only) returns the mappings with external ports
// in [start, end] for protocol. manage=false asks only for the caller's own
// mappings (what a gateway in secure mode allows); true asks for all. max is
// sent as NewNumberOfPorts: 0 lets the gateway choose (miniupnpd: 1000), and
// values above 65535 are sent as 65535; no more than max entries are
// returned. An empty range gives an empty list, whether the gateway answers
// with an empty listing or with 714/730.
//
// The listing comes back in one reply, so MaxBodySize limits how many
// entries fit (roughly 300 bytes each); a bigger one fails with
// ErrResponseTooLarge. Query narrower port ranges or raise MaxBodySize.
func (c *Client) GetListOfPortMappings(ctx context.Context, start, end uint16, protocol string, manage bool, max int) ([]PortMapping, error) {
	if err := c.requireV2(actionGetListOfPortMappings); err != nil {
		return nil, err
	}
	proto, err := normalizeProtocol(protocol)
	if err != nil {
		return nil, fmt.Errorf("igd: %s: %w", actionGetListOfPortMappings, err)
	}
	if max < 0 {
		return nil, fmt.Errorf("igd: %s: %w: negative max %d", actionGetListOfPortMappings, ErrInvalidArgs, max)
	}
	max = min(max, maxListing)
	r, err := c.call(ctx, actionGetListOfPortMappings, []arg{
		{"NewStartPort", formatPort(start)},
		{"NewEndPort", formatPort(end)},
		{"NewProtocol", proto},
		{"NewManage", formatBool(manage)},
		{"NewNumberOfPorts", formatPort(uint16(max))},
	})
	if err != nil {
		var ue *UPnPError
		if errors.As(err, &ue) && (ue.Code == CodeNoSuchEntryInArray || ue.Code == CodePortMappingNotFound) {
			return nil, nil
		}
		return nil, err
	}
	a, ok := r.args.get("NewPortListing")
	if !ok {
		return nil, r.bad(errors.New("missing NewPortListing"))
	}
	doc := a.raw // a router that embedded the document unescaped
	if doc == nil {
		doc = []byte(a.value) // escaped text or CDATA, the usual forms
	}
	limit := maxListing
	if max > 0 {
		limit = max
	}
	list, err := parsePortListing(doc, limit)
	if err != nil {
		return nil, r.bad(fmt.Errorf("NewPortListing: %w", err))
	}
	return list, nil
}

// parsePortListing parses a PortMappingList document (WANIPConnection:2
// §2.6.22 and its XSD) and returns at most limit entries; further entries are
// not read. Names are compared without namespace. An empty document is an
// empty list.
//
// The decoder is not strict, because gateways paste descriptions into the
// listing without escaping them (miniupnpd writes the entries into a CDATA
// section as they are), so a bare "&" in a description must not lose the
// whole listing.
func parsePortListing(doc []byte, limit int) ([]PortMapping, error) {
	if len(bytes.TrimSpace(doc)) == 0 {
		return nil, nil
	}
	d := xml.NewDecoder(bytes.NewReader(doc))
	d.Strict = false
	d.CharsetReader = func(label string, input io.Reader) (io.Reader, error) {
		r, _, err := charsetReader(label, input)
		return r, err
	}
	root, err := nextStart(d)
	if err != nil {
		return nil, err
	}
	if !strings.EqualFold(root.Name.Local, "PortMappingList") {
		return nil, fmt.Errorf("root element is <%s>, not PortMappingList", root.Name.Local)
	}
	var list []PortMapping
	for len(list) < limit {
		el, err := nextChild(d)
		if err != nil {
			return nil, err
		}
		if el == nil {
			return list, nil
		}
		if !strings.EqualFold(el.Name.Local, "PortMappingEntry") {
			if err := d.Skip(); err != nil {
				return nil, err
			}
			continue
		}
		m, err := parseListingEntry(d)
		if err != nil {
			return nil, fmt.Errorf("entry %d: %w", len(list), err)
		}
		list = append(list, m)
	}
	return list, nil
}

// listingFields are the element names of one PortMappingEntry. The listing
// uses NewDescription and NewLeaseTime where the actions say
// NewPortMappingDescription and NewLeaseDuration.
var listingFields = [...]string{
	"NewRemoteHost", "NewExternalPort", "NewProtocol", "NewInternalPort",
	"NewInternalClient", "NewEnabled", "NewDescription", "NewLeaseTime",
}

// parseListingEntry reads a PortMappingEntry whose start tag was consumed.
// NewExternalPort, NewProtocol, NewInternalPort and NewInternalClient are
// required; a missing NewEnabled means enabled (the listing holds active
// entries) and a missing NewLeaseTime means 0.
func parseListingEntry(d *xml.Decoder) (PortMapping, error) {
	var vals [len(listingFields)]string
	var seen [len(listingFields)]bool
	for {
		el, err := nextChild(d)
		if err != nil {
			return PortMapping{}, err
		}
		if el == nil {
			break
		}
		text, err := readText(d)
		if err != nil {
			return PortMapping{}, err
		}
		for i, name := range listingFields {
			if !seen[i] && strings.EqualFold(el.Name.Local, name) {
				vals[i], seen[i] = text, true
				break
			}
		}
	}
	f := &fieldSet{lookup: func(name string) (string, bool) {
		for i, n := range listingFields {
			if n == name {
				return vals[i], seen[i]
			}
		}
		return "", false
	}}
	m := PortMapping{
		RemoteHost:     f.str("NewRemoteHost", false),
		ExternalPort:   f.port("NewExternalPort"),
		Protocol:       f.proto("NewProtocol"),
		InternalPort:   f.port("NewInternalPort"),
		InternalClient: f.str("NewInternalClient", true),
		Enabled:        true,
		Description:    f.str("NewDescription", false),
	}
	if seen[5] {
		m.Enabled = f.boolean("NewEnabled")
	}
	if seen[7] {
		m.LeaseDuration = f.seconds("NewLeaseTime")
	}
	return m, f.err
}

// readText returns the character data of an element whose start tag was
// consumed, up to its end tag. Child elements are an error.
func readText(d *xml.Decoder) (string, error) {
	var text []byte
	for {
		tok, err := d.Token()
		if err != nil {
			return "", unexpectedEOF(err)
		}
		switch t := tok.(type) {
		case xml.CharData:
			text = append(text, t...)
		case xml.StartElement:
			return "", fmt.Errorf("unexpected element <%s> in a value", t.Name.Local)
		case xml.EndElement:
			return string(text), nil
		}
	}
}
