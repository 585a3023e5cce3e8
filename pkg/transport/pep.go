package transport

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/esn-project/esn/pkg/xmltree"
	"mellium.im/xmpp/jid"
)

// Publish-subscribe namespaces (XEP-0060 §15.1) and the node configuration
// form type (XEP-0060 §16.4.3).
const (
	NSPubSub      = "http://jabber.org/protocol/pubsub"
	NSPubSubOwner = "http://jabber.org/protocol/pubsub#owner"
	nsNodeConfig  = "http://jabber.org/protocol/pubsub#node_config"
)

// MaxItemsMax asks for the largest number of items the service allows
// (XEP-0060 §12.17 "max").
const MaxItemsMax = -1

// NodeConfig is the part of a PEP node's configuration (XEP-0060 §8.2) the
// helpers set. The zero value changes nothing.
type NodeConfig struct {
	// AccessModel is pubsub#access_model: "open", "presence", "roster" or
	// "whitelist" ("" leaves it as is). Prosody 0.12 knows open, presence
	// and whitelist.
	AccessModel string
	// MaxItems is pubsub#max_items: 0 leaves it as is, MaxItemsMax asks for
	// "max".
	MaxItems int
	// Fields sets further fields by their var (e.g.
	// "pubsub#persist_items": "true").
	Fields map[string]string
}

func (nc NodeConfig) isZero() bool {
	return nc.AccessModel == "" && nc.MaxItems == 0 && len(nc.Fields) == 0
}

// fields returns the form fields, in a stable order.
func (nc NodeConfig) fields() [][2]string {
	var out [][2]string
	if nc.AccessModel != "" {
		out = append(out, [2]string{"pubsub#access_model", nc.AccessModel})
	}
	switch {
	case nc.MaxItems == MaxItemsMax:
		out = append(out, [2]string{"pubsub#max_items", "max"})
	case nc.MaxItems > 0:
		out = append(out, [2]string{"pubsub#max_items", strconv.Itoa(nc.MaxItems)})
	}
	keys := make([]string, 0, len(nc.Fields))
	for k := range nc.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		out = append(out, [2]string{k, nc.Fields[k]})
	}
	return out
}

func (nc NodeConfig) key() string {
	var b strings.Builder
	for _, f := range nc.fields() {
		b.WriteString(f[0])
		b.WriteByte(0)
		b.WriteString(f[1])
		b.WriteByte(0)
	}
	return b.String()
}

// form builds the submitted node_config data form (XEP-0004 §3.1, with
// <value/> elements as Prosody requires).
func (nc NodeConfig) form() *xmltree.Element {
	x := xmltree.New(nsDataForms, "x", attr("type", "submit"))
	add := func(v, val, typ string) {
		f := xmltree.New(nsDataForms, "field", attr("var", v))
		if typ != "" {
			f.SetAttr("type", typ)
		}
		f.AddChild(xmltree.New(nsDataForms, "value").AddText(val))
		x.AddChild(f)
	}
	add("FORM_TYPE", nsNodeConfig, "hidden")
	for _, f := range nc.fields() {
		add(f[0], f[1], "")
	}
	return x
}

// Item is one published item (XEP-0060 §7.1).
type Item struct {
	ID string
	// Payload is the item's one child element (nil for an empty item).
	Payload *xmltree.Element
}

// PEPPublish publishes payload as item itemID ("" lets the service pick an
// id) on our own PEP node (XEP-0163 §7, XEP-0060 §7.1).
//
// When cfg is not zero, the node is first created with that configuration,
// or reconfigured if it exists (XEP-0060 §8.1.3, §8.2.4), instead of
// relying on publish-options; this is done once per node and configuration
// per Conn. Payload must be a single element (Prosody rejects empty items:
// use PEPRetract).
func (c *Conn) PEPPublish(ctx context.Context, node, itemID string, payload *xmltree.Element, cfg NodeConfig) error {
	if node == "" {
		return errors.New("transport: PEPPublish needs a node")
	}
	if payload == nil {
		return errors.New("transport: PEPPublish needs a payload (retract to remove an item)")
	}
	if !cfg.isZero() {
		key := cfg.key()
		c.mu.Lock()
		done := c.pepConfig[node] == key
		c.mu.Unlock()
		if !done {
			if err := c.pepEnsureNode(ctx, node, cfg); err != nil {
				return err
			}
			c.mu.Lock()
			c.pepConfig[node] = key
			c.mu.Unlock()
		}
	}
	item := xmltree.New(NSPubSub, "item")
	if itemID != "" {
		item.SetAttr("id", itemID)
	}
	item.AddChild(payload)
	ps := xmltree.New(NSPubSub, "pubsub").AddChild(
		xmltree.New(NSPubSub, "publish", attr("node", node)).AddChild(item))
	if _, err := c.SendIQ(ctx, iq("set", "", ps)); err != nil {
		return fmt.Errorf("transport: publishing to PEP node %q: %w", node, err)
	}
	return nil
}

// pepEnsureNode creates node with cfg, or configures it if it exists.
func (c *Conn) pepEnsureNode(ctx context.Context, node string, cfg NodeConfig) error {
	ps := xmltree.New(NSPubSub, "pubsub").
		AddChild(xmltree.New(NSPubSub, "create", attr("node", node))).
		AddChild(xmltree.New(NSPubSub, "configure").AddChild(cfg.form()))
	_, err := c.SendIQ(ctx, iq("set", "", ps))
	if err == nil {
		return nil
	}
	if !errors.Is(err, &StanzaError{Condition: "conflict"}) {
		return fmt.Errorf("transport: creating PEP node %q: %w", node, err)
	}
	return c.PEPConfigure(ctx, node, cfg)
}

// PEPConfigure submits cfg as the configuration of our PEP node (XEP-0060
// §8.2.4). Fields not in cfg keep their values.
func (c *Conn) PEPConfigure(ctx context.Context, node string, cfg NodeConfig) error {
	if node == "" {
		return errors.New("transport: PEPConfigure needs a node")
	}
	ps := xmltree.New(NSPubSubOwner, "pubsub").AddChild(
		xmltree.New(NSPubSubOwner, "configure", attr("node", node)).AddChild(cfg.form()))
	if _, err := c.SendIQ(ctx, iq("set", "", ps)); err != nil {
		return fmt.Errorf("transport: configuring PEP node %q: %w", node, err)
	}
	c.mu.Lock()
	c.pepConfig[node] = cfg.key()
	c.mu.Unlock()
	return nil
}

// PEPFetch returns the items of owner's PEP node (XEP-0060 §6.5.2); a zero
// owner means our own account. A missing node gives a *StanzaError with
// condition item-not-found; one we may not read, forbidden (or
// not-authorized).
func (c *Conn) PEPFetch(ctx context.Context, owner jid.JID, node string) ([]Item, error) {
	if node == "" {
		return nil, errors.New("transport: PEPFetch needs a node")
	}
	to := ""
	if owner.Domainpart() != "" {
		to = owner.Bare().String()
	}
	ps := xmltree.New(NSPubSub, "pubsub").AddChild(xmltree.New(NSPubSub, "items", attr("node", node)))
	resp, err := c.SendIQ(ctx, iq("get", to, ps))
	if err != nil {
		return nil, fmt.Errorf("transport: fetching PEP node %q of %s: %w", node, describeTo(to), err)
	}
	var items []Item
	if p := resp.Child(NSPubSub, "pubsub"); p != nil {
		if its := p.Child(NSPubSub, "items"); its != nil {
			for _, it := range its.Children() {
				if it.Name.Space != NSPubSub || it.Name.Local != "item" {
					continue
				}
				item := Item{ID: it.Attribute("id")}
				if ch := it.Children(); len(ch) > 0 {
					item.Payload = ch[0]
				}
				items = append(items, item)
			}
		}
	}
	return items, nil
}

// PEPRetract deletes item itemID from our PEP node, notifying subscribers
// (XEP-0060 §7.2).
func (c *Conn) PEPRetract(ctx context.Context, node, itemID string) error {
	if node == "" || itemID == "" {
		return errors.New("transport: PEPRetract needs a node and an item id")
	}
	ps := xmltree.New(NSPubSub, "pubsub").AddChild(
		xmltree.New(NSPubSub, "retract", attr("node", node), attr("notify", "true")).AddChild(
			xmltree.New(NSPubSub, "item", attr("id", itemID))))
	if _, err := c.SendIQ(ctx, iq("set", "", ps)); err != nil {
		return fmt.Errorf("transport: retracting item %q from PEP node %q: %w", itemID, node, err)
	}
	return nil
}

// PEPDelete deletes our PEP node and its items (XEP-0060 §8.4).
func (c *Conn) PEPDelete(ctx context.Context, node string) error {
	if node == "" {
		return errors.New("transport: PEPDelete needs a node")
	}
	ps := xmltree.New(NSPubSubOwner, "pubsub").AddChild(
		xmltree.New(NSPubSubOwner, "delete", attr("node", node)))
	c.mu.Lock()
	delete(c.pepConfig, node)
	c.mu.Unlock()
	if _, err := c.SendIQ(ctx, iq("set", "", ps)); err != nil {
		return fmt.Errorf("transport: deleting PEP node %q: %w", node, err)
	}
	return nil
}
