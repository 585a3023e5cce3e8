package main

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/esn-project/esn/pkg/esn"
	"github.com/esn-project/esn/pkg/offline"
	"github.com/esn-project/esn/pkg/pubkey"
)

func TestOfflineExitCodes(t *testing.T) {
	untrusted := fmt.Errorf("%w: %w", esn.ErrUntrustedKey, &pubkey.UntrustedKeyError{JID: "alice@example.org", Reason: pubkey.ErrUnknownKey})
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, exitOK},
		{"no options", fmt.Errorf("%w: alice has none", offline.ErrNoOptions), exitUnavailable},
		{"expired", offline.ErrExpired, exitUnavailable},
		{"unsupported", &offline.FieldError{Field: "modp", Reason: "x", Err: offline.ErrUnsupported}, exitUnavailable},
		{"bounced", &offline.DeliveryError{Condition: "service-unavailable"}, exitUnavailable},
		{"malformed options", &offline.FieldError{Field: "signs", Reason: "x", Err: offline.ErrMalformed}, exitDataErr},
		{"bad signature", offline.ErrBadSignature, exitDataErr},
		{"untrusted signer", untrusted, exitNoPerm},
		{"no trusted key at all", fmt.Errorf("%w: none", esn.ErrUntrustedKey), exitNoPerm},
		{"no identity", offline.ErrNoIdentity, exitUsage},
		{"other", errors.New("boom"), exitFailure},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := exitCode(offlineError(tc.err)); got != tc.want {
				t.Errorf("exitCode(offlineError(%v)) = %d, want %d", tc.err, got, tc.want)
			}
		})
	}
	// The trust hint names the command.
	if h, ok := keyTrustHint(offlineError(untrusted)); !ok || h == "" {
		t.Errorf("no trust hint for %v", untrusted)
	}
}

func TestOfflineFlagParsing(t *testing.T) {
	now := time.Date(2026, 7, 1, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"48h", now.Add(48 * time.Hour), true},
		{"2026-07-02T08:00:00Z", time.Date(2026, 7, 2, 8, 0, 0, 0, time.UTC), true},
		{"2026-07-02T08:00:00", time.Date(2026, 7, 2, 8, 0, 0, 0, time.UTC), true},
		{"-1h", time.Time{}, false},
		{"2020-01-01T00:00:00Z", time.Time{}, false},
		{"soon", time.Time{}, false},
	} {
		got, err := parseExpires(tc.in, now)
		if (err == nil) != tc.ok || (tc.ok && !got.Equal(tc.want)) {
			t.Errorf("parseExpires(%q) = %v, %v", tc.in, got, err)
		}
		if err != nil && exitCode(err) != exitUsage {
			t.Errorf("parseExpires(%q): exit %d, want 64", tc.in, exitCode(err))
		}
	}
	for _, tc := range []struct {
		in   string
		want []offline.Set
	}{
		{"subscribers", []offline.Set{offline.SetSubscribers}},
		{"all", []offline.Set{offline.SetAll}},
		{"both", []offline.Set{offline.SetSubscribers, offline.SetAll}},
		{"nobody", nil},
	} {
		got, err := parseSets(tc.in)
		if fmt.Sprint(got) != fmt.Sprint(tc.want) || (tc.want == nil) != (err != nil) {
			t.Errorf("parseSets(%q) = %v, %v", tc.in, got, err)
		}
	}
	if g, err := parseGroups("15, 14,15"); err != nil || fmt.Sprint(g) != "[15 14]" {
		t.Errorf("parseGroups = %v, %v", g, err)
	}
	if _, err := parseGroups("3"); exitCode(err) != exitUsage {
		t.Errorf("group 3: %v", err)
	}
}
