package offline

import (
	"fmt"
	"strings"
)

// Namespaces and node names of XEP-0187 §3.1 and §8.
const (
	// NS is the XEP-0187 namespace; it is also the PEP node of the
	// option set for presence subscribers, and the disco feature.
	NS = "http://www.xmpp.org/extensions/xep-0187.html#ns"
	// NSAllEntities is the PEP node of the option set for everybody
	// (the XEP-0116 namespace).
	NSAllEntities = "http://www.xmpp.org/extensions/xep-0116.html#ns"
	// NSInit wraps Bob's response form in his first stanza.
	NSInit = "http://www.xmpp.org/extensions/xep-0116.html#ns-init"
	// NSDelay is XEP-0203 delayed delivery; NSLegacyDelay is XEP-0091.
	NSDelay       = "urn:xmpp:delay"
	NSLegacyDelay = "jabber:x:delay"
	// NSSHIM holds the encrypted Created header (XEP-0131).
	NSSHIM = "http://jabber.org/protocol/shim"
	// ItemID is the one item of an options node (digest #49).
	ItemID = "current"
)

// Set says which of Alice's two option sets (XEP-0187 §3.1) something
// belongs to.
type Set int

const (
	// SetSubscribers is published for presence subscribers only, with fresh
	// values at every publication, and withdrawn (with its secrets
	// destroyed) when Alice logs in.
	SetSubscribers Set = iota + 1
	// SetAll is published for all entities and lives until it expires or
	// is replaced. Updating it reveals presence to anyone watching.
	SetAll
)

// Sets lists both sets, in the order Bob tries them.
var Sets = [...]Set{SetSubscribers, SetAll}

func (s Set) String() string {
	switch s {
	case SetSubscribers:
		return "subscribers"
	case SetAll:
		return "all"
	}
	return fmt.Sprintf("Set(%d)", int(s))
}

// ParseSet parses "subscribers" or "all".
func ParseSet(v string) (Set, error) {
	switch strings.ToLower(v) {
	case "subscribers", "presence":
		return SetSubscribers, nil
	case "all", "open":
		return SetAll, nil
	}
	return 0, fmt.Errorf("offline: unknown option set %q (want subscribers or all)", v)
}

// Node returns the PEP node of the set.
func (s Set) Node() string {
	if s == SetAll {
		return NSAllEntities
	}
	return NS
}

// AccessModel returns the recommended access model (XEP-0187 §3.1,
// digest O-12): presence for subscribers, open for all.
func (s Set) AccessModel() string {
	if s == SetAll {
		return "open"
	}
	return "presence"
}

// NodeConfig returns the pubsub#node_config fields an options node gets
// besides its access model (XEP-0187 §3.1, digest O-13 and #49): no
// notifications, never the last item on subscription, one persistent item.
func NodeConfig() map[string]string {
	return map[string]string{
		"pubsub#deliver_notifications":    "0",
		"pubsub#send_last_published_item": "never",
		"pubsub#persist_items":            "1",
		"pubsub#max_items":                "1",
	}
}

// FetchOrder returns the nodes Bob fetches, in order (XEP-0187 §3.2): a
// presence subscriber MUST try the subscribers' node and falls back to the
// all-entities node when it has no options; anyone else fetches the
// all-entities node only.
func FetchOrder(subscribed bool) []Set {
	if subscribed {
		return []Set{SetSubscribers, SetAll}
	}
	return []Set{SetAll}
}
