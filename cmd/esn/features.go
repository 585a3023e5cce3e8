package main

import "github.com/esn-project/esn/pkg/transport"

// advertisedFeatures is THE list of XEP-0030 disco#info features esn
// answers with while connected, besides disco#info itself (which
// pkg/transport always adds). It must name exactly what esn implements:
// add a namespace here in the same change that implements it.
//
// esn implements encrypted sessions (XEP-0116 and its XEP-0217 profile,
// with XEP-0200 inside) over stanza session negotiation (XEP-0155), whose
// forms travel in XEP-0020 feature negotiation wrappers: the features of
// esn.Features. It also implements offline encrypted sessions (XEP-0187,
// pkg/offline: esn offline, esn send --offline, esn receive), and XEP-0189
// public keys: it answers direct key requests (pubkey_answer.go) and
// publishes and honours revocations (esn keys revoke, esn keys fetch).
func advertisedFeatures() []string {
	return []string{nsXEP0116, nsSSN, nsFeatureNeg, nsXEP0187, nsPubkey, nsRevoke}
}

// discoIdentity is the XEP-0030 identity esn answers with.
func discoIdentity() transport.Identity {
	return transport.Identity{Category: "client", Type: "bot", Name: "esn"}
}

// Namespaces of the ESession family that `esn probe` looks for in a
// disco#info result. See esession-core.md §1 and
// sessions-keys-offline-archive.md (namespace cheat sheet).
const (
	nsDiscoInfo = "http://jabber.org/protocol/disco#info"
	nsXEP0116   = "http://www.xmpp.org/extensions/xep-0116.html#ns"
	nsSSN       = "urn:xmpp:ssn"
	nsXEP0200   = "http://www.xmpp.org/extensions/xep-0200.html#ns"
	nsXEP0187   = "http://www.xmpp.org/extensions/xep-0187.html#ns"
	nsArchive   = "urn:xmpp:archive"
	nsPubkey    = "urn:xmpp:pubkey:2"
	nsRevoke    = "urn:xmpp:revoke:2"
	// nsFeatureNeg is XEP-0020 feature negotiation, which carries the
	// XEP-0155 forms.
	nsFeatureNeg = "http://jabber.org/protocol/feature-neg"
)

// esessionFeature describes how probe decides whether a peer supports
// one ESession-related XEP.
type esessionFeature struct {
	Key   string // JSON key
	XEP   string
	Title string
	// Vars are the disco features that show support (any one suffices).
	Vars []string
	// Prefix, if set, also matches any feature starting with it.
	Prefix string
	// ImpliedBy names another entry's Key whose support implies this one
	// (XEP-0200 has no disco feature of its own; XEP-0116 requires it).
	ImpliedBy string
}

func esessionFeatures() []esessionFeature {
	return []esessionFeature{
		{Key: "xep0116", XEP: "XEP-0116", Title: "Encrypted Session Negotiation", Vars: []string{nsXEP0116}},
		{Key: "xep0155", XEP: "XEP-0155", Title: "Stanza Session Negotiation", Vars: []string{nsSSN}},
		{Key: "xep0200", XEP: "XEP-0200", Title: "Stanza Encryption", Vars: []string{nsXEP0200}, ImpliedBy: "xep0116"},
		{Key: "xep0187", XEP: "XEP-0187", Title: "Offline Encrypted Sessions", Vars: []string{nsXEP0187}},
		{Key: "xep0136", XEP: "XEP-0136", Title: "Message Archiving", Vars: []string{nsArchive}, Prefix: nsArchive + ":"},
		{Key: "xep0189", XEP: "XEP-0189", Title: "Public Key Publishing", Vars: []string{nsPubkey, nsRevoke, "urn:xmpp:attest:2"}},
	}
}
