package main

import (
	"slices"
	"testing"

	"github.com/esn-project/esn/pkg/esn"
	"github.com/esn-project/esn/pkg/offline"
	"github.com/esn-project/esn/pkg/pubkey"
)

// The advertised list is pinned: a change here must come with the code
// that implements the new feature (and its tests).
func TestAdvertisedFeatures(t *testing.T) {
	// Encrypted sessions (issue 4), offline encrypted sessions (XEP-0187)
	// and XEP-0189 public keys and revocations; pkg/transport adds
	// disco#info itself.
	want := []string{
		"http://www.xmpp.org/extensions/xep-0116.html#ns",
		"urn:xmpp:ssn",
		"http://jabber.org/protocol/feature-neg",
		"http://www.xmpp.org/extensions/xep-0187.html#ns",
		"urn:xmpp:pubkey:2",
		"urn:xmpp:revoke:2",
	}
	if got := advertisedFeatures(); !slices.Equal(got, want) {
		t.Errorf("advertisedFeatures() = %v, want %v", got, want)
	}
	if !slices.Equal(advertisedFeatures(), append(esn.Features[:], offline.NS, pubkey.NS, pubkey.NSRevoke)) {
		t.Errorf("advertisedFeatures() = %v, but pkg/esn, pkg/offline and pkg/pubkey say %v, %s, %s and %s", advertisedFeatures(), esn.Features, offline.NS, pubkey.NS, pubkey.NSRevoke)
	}
	if got, w := wantFeatures(), append(slices.Clone(want), nsDiscoInfo); !slices.Equal(got, slices.Sorted(slices.Values(w))) {
		t.Errorf("esn answers disco#info with %v", got)
	}
}

func TestESessionSupport(t *testing.T) {
	tests := []struct {
		name     string
		features []string
		want     []string // keys that must be true; all others false
	}{
		{"nothing", nil, nil},
		{"disco only", []string{nsDiscoInfo}, nil},
		{"xep-0116 implies 0200", []string{nsXEP0116}, []string{"xep0116", "xep0200"}},
		{"0200 alone", []string{nsXEP0200}, []string{"xep0200"}},
		{"ssn", []string{nsSSN}, []string{"xep0155"}},
		{"offline", []string{nsXEP0187}, []string{"xep0187"}},
		{"archive sub-feature", []string{"urn:xmpp:archive:auto"}, []string{"xep0136"}},
		{"archive", []string{"urn:xmpp:archive"}, []string{"xep0136"}},
		{"archive look-alike", []string{"urn:xmpp:archived"}, nil},
		{"pubkey", []string{"urn:xmpp:pubkey:2"}, []string{"xep0189"}},
		{"attest only", []string{"urn:xmpp:attest:2"}, []string{"xep0189"}},
		{"old pubkey namespace", []string{"urn:xmpp:pubkey:1"}, nil},
		{"everything", []string{nsXEP0116, nsSSN, nsXEP0187, "urn:xmpp:archive:manage", "urn:xmpp:pubkey:2"},
			[]string{"xep0116", "xep0155", "xep0200", "xep0187", "xep0136", "xep0189"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := esessionSupport(tc.features)
			if len(got) != len(esessionFeatures()) {
				t.Errorf("%d entries, want %d", len(got), len(esessionFeatures()))
			}
			for k, v := range got {
				if v != slices.Contains(tc.want, k) {
					t.Errorf("%s = %v", k, v)
				}
			}
		})
	}
}
