package transport

import (
	"context"
	"fmt"
	"slices"

	"github.com/esn-project/esn/pkg/xmltree"
	"mellium.im/xmpp/jid"
)

// Service discovery namespaces (XEP-0030, XEP-0128).
const (
	NSDiscoInfo = "http://jabber.org/protocol/disco#info"
	nsDataForms = "jabber:x:data"
)

// DiscoInfo is an entity's disco#info answer (XEP-0030 §3.1).
type DiscoInfo struct {
	Identities []Identity
	Features   []string
	// Forms are the extended information forms (XEP-0128), as received.
	Forms []*xmltree.Element
}

// HasFeature reports whether the entity advertises feature.
func (d *DiscoInfo) HasFeature(feature string) bool {
	return slices.Contains(d.Features, feature)
}

// DiscoInfo asks to for its identities and features (XEP-0030 §3.1). An
// error reply returns a *StanzaError (for a full JID that is not online,
// usually service-unavailable or recipient-unavailable).
func (c *Conn) DiscoInfo(ctx context.Context, to jid.JID) (*DiscoInfo, error) {
	req := iq("get", to.String(), xmltree.New(NSDiscoInfo, "query"))
	resp, err := c.SendIQ(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("transport: disco#info of %s: %w", to, err)
	}
	q := resp.Child(NSDiscoInfo, "query")
	if q == nil {
		return nil, fmt.Errorf("transport: disco#info of %s: the reply has no <query/>", to)
	}
	return parseDiscoInfo(q), nil
}

func parseDiscoInfo(q *xmltree.Element) *DiscoInfo {
	info := &DiscoInfo{}
	for _, ch := range q.Children() {
		switch {
		case ch.Name.Space == NSDiscoInfo && ch.Name.Local == "identity":
			info.Identities = append(info.Identities, Identity{
				Category: ch.Attribute("category"),
				Type:     ch.Attribute("type"),
				Name:     ch.Attribute("name"),
			})
		case ch.Name.Space == NSDiscoInfo && ch.Name.Local == "feature":
			if v := ch.Attribute("var"); v != "" && !slices.Contains(info.Features, v) {
				info.Features = append(info.Features, v)
			}
		case ch.Name.Space == nsDataForms && ch.Name.Local == "x":
			info.Forms = append(info.Forms, ch)
		}
	}
	return info
}

// discoInfoQuery builds the <query/> we answer disco#info requests with:
// our identity, disco#info itself, then the configured features in order,
// without duplicates.
func discoInfoQuery(id Identity, features []string) *xmltree.Element {
	q := xmltree.New(NSDiscoInfo, "query")
	ident := xmltree.New(NSDiscoInfo, "identity", attr("category", id.Category), attr("type", id.Type))
	if id.Name != "" {
		ident.SetAttr("name", id.Name)
	}
	q.AddChild(ident)
	seen := map[string]bool{}
	for _, f := range append([]string{NSDiscoInfo}, features...) {
		if f == "" || seen[f] {
			continue
		}
		seen[f] = true
		q.AddChild(xmltree.New(NSDiscoInfo, "feature", attr("var", f)))
	}
	return q
}

// answerDisco answers a disco#info get without a node; it reports whether
// el was such a request. Runs on the read loop.
func (c *Conn) answerDisco(el *xmltree.Element) bool {
	if el.Attribute("type") != "get" {
		return false
	}
	ch := el.Children()
	if len(ch) != 1 || ch[0].Name.Space != NSDiscoInfo || ch[0].Name.Local != "query" || ch[0].Attribute("node") != "" {
		return false
	}
	c.reply(resultReply(el, c.disco))
	return true
}
