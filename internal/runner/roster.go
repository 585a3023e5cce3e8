package runner

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/esn-project/esn/pkg/xmltree"
)

// NSRoster is the roster namespace of RFC 6121 §2.
const NSRoster = "jabber:iq:roster"

// maxRosterItems bounds the roster kept in memory.
const maxRosterItems = 100000

// IQConn sends IQ requests; *transport.Conn implements it.
type IQConn interface {
	SendIQ(ctx context.Context, iq *xmltree.Element) (*xmltree.Element, error)
}

// Roster is the set of the account's roster contacts (bare JIDs), kept up
// to date by roster pushes (RFC 6121 §2.1.6). It is safe for concurrent
// use.
type Roster struct {
	mu    sync.Mutex
	items map[string]string // bare JID -> subscription
}

// FetchRoster retrieves the roster (RFC 6121 §2.1.3).
func FetchRoster(ctx context.Context, c IQConn) (*Roster, error) {
	iq := xmltree.New("jabber:client", "iq")
	iq.SetAttr("type", "get")
	iq.AddChild(xmltree.New(NSRoster, "query"))
	res, err := c.SendIQ(ctx, iq)
	if err != nil {
		return nil, fmt.Errorf("fetching the roster: %w", err)
	}
	r := &Roster{items: map[string]string{}}
	if q := res.Child(NSRoster, "query"); q != nil {
		r.apply(q)
	}
	return r, nil
}

func (r *Roster) apply(q *xmltree.Element) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, it := range q.Children() {
		if it.Name.Local != "item" {
			continue
		}
		j := strings.ToLower(it.Attribute("jid"))
		if j == "" || strings.Contains(j, "/") {
			continue
		}
		sub := it.Attribute("subscription")
		if sub == "remove" {
			delete(r.items, j)
			continue
		}
		if len(r.items) < maxRosterItems {
			if sub == "" {
				sub = "none"
			}
			r.items[j] = sub
		}
	}
}

// Contains reports whether bare is on the roster (any subscription state).
func (r *Roster) Contains(bare string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.items[strings.ToLower(bare)]
	return ok
}

// Len returns the number of contacts.
func (r *Roster) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.items)
}

// HandlePush applies a roster push and returns the result to send, or nil
// when iq is not a roster push from our own account (localBare) or server.
func (r *Roster) HandlePush(iq *xmltree.Element, localBare string) *xmltree.Element {
	if iq.Attribute("type") != "set" {
		return nil
	}
	q := iq.Child(NSRoster, "query")
	if q == nil {
		return nil
	}
	if from := iq.Attribute("from"); from != "" && !strings.EqualFold(from, localBare) {
		return nil // RFC 6121 §2.1.6: ignore pushes from anyone else
	}
	r.apply(q)
	res := xmltree.New("jabber:client", "iq")
	res.SetAttr("type", "result")
	res.SetAttr("id", iq.Attribute("id"))
	if from := iq.Attribute("from"); from != "" {
		res.SetAttr("to", from)
	}
	return res
}
