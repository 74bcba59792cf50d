package igd

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"reflect"
	"strings"
	"testing"
)

// RemovePinhole: DeletePinhole, and on 606 only, UpdatePinhole with a one
// second lease.
func TestRemovePinhole(t *testing.T) {
	cases := []struct {
		name    string
		del     answer // the reply to DeletePinhole
		upd     answer // the reply to UpdatePinhole
		actions []string
		ok      bool
		want    []error // the error must match all
	}{
		{
			name: "deleted", del: okReply(fw, "DeletePinhole"),
			actions: []string{"DeletePinhole"}, ok: true,
		},
		{
			name: "606, expired instead", del: faultReply(606, "Action not authorized"), upd: okReply(fw, "UpdatePinhole"),
			actions: []string{"DeletePinhole", "UpdatePinhole"}, ok: true,
		},
		{
			name: "606, workaround refused too", del: faultReply(606, "Action not authorized"), upd: faultReply(704, "NoSuchEntry"),
			actions: []string{"DeletePinhole", "UpdatePinhole"},
			want:    []error{ErrNotAuthorized, ErrNoSuchEntry},
		},
		{
			name: "already gone", del: faultReply(704, "NoSuchEntry"),
			actions: []string{"DeletePinhole"}, want: []error{ErrNoSuchEntry},
		},
		{
			name: "other failure is not worked around", del: faultReply(501, "ActionFailed"),
			actions: []string{"DeletePinhole"}, want: []error{ErrActionFailed},
		},
		{
			name: "702 is not worked around", del: faultReply(702, "FirewallDisabled"),
			actions: []string{"DeletePinhole"}, want: []error{ErrFirewallDisabled},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, func(action, _ string) answer {
				if action == "UpdatePinhole" {
					return tc.upd
				}
				return tc.del
			})
			var logs bytes.Buffer
			c := f.client(ServiceWANIPv6Firewall1)
			c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			err := c.RemovePinhole(context.Background(), 31)
			if tc.ok != (err == nil) {
				t.Fatalf("err = %v, want success %v", err, tc.ok)
			}
			for _, w := range tc.want {
				if !errors.Is(err, w) {
					t.Errorf("errors.Is(%v, %v) = false", err, w)
				}
			}
			var got []string
			for _, r := range f.requests() {
				action := r.header.Get("SOAPAction")
				got = append(got, strings.Trim(action[strings.LastIndexByte(action, '#')+1:], `"`))
			}
			if !reflect.DeepEqual(got, tc.actions) {
				t.Fatalf("actions sent %v, want %v", got, tc.actions)
			}
			reqs := f.requests()
			if want := wantRequest(fw, "DeletePinhole", "UniqueID", "31"); reqs[0].body != want {
				t.Errorf("DeletePinhole body %q, want %q", reqs[0].body, want)
			}
			if len(reqs) == 2 {
				if want := wantRequest(fw, "UpdatePinhole", "UniqueID", "31", "NewLeaseTime", "1"); reqs[1].body != want {
					t.Errorf("UpdatePinhole body %q, want %q", reqs[1].body, want)
				}
				if !strings.Contains(logs.String(), "letting the pinhole expire") {
					t.Errorf("no debug record of the workaround in:\n%s", logs.String())
				}
			}
		})
	}
}
