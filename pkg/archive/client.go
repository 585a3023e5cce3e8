package archive

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/esn-project/esn/pkg/xmltree"
	"mellium.im/xmpp/jid"
)

// IQSender sends an IQ request (type get or set) and returns the result
// stanza; an error reply is returned as an error. pkg/transport's *Conn
// implements it; callers branch on its *transport.StanzaError (for
// instance item-not-found for an unknown collection, XEP-0136 §7.2).
type IQSender interface {
	SendIQ(ctx context.Context, iq *xmltree.Element) (*xmltree.Element, error)
}

// Client makes XEP-0136 requests to the user's own server. It holds no
// mutable state: it is safe for concurrent use if its IQSender is.
type Client struct {
	iq IQSender
	// To addresses the requests; "" sends them without 'to', which the
	// server handles for the account (XEP-0136 §1).
	To string
}

// NewClient returns a client sending its requests with s.
func NewClient(s IQSender) *Client { return &Client{iq: s} }

const nsClient = "jabber:client"

// send wraps payload in an IQ of type typ and returns the reply's payload
// named want in NS (nil if the reply has none).
func (c *Client) send(ctx context.Context, typ string, payload *xmltree.Element, want string) (*xmltree.Element, error) {
	iq := el(nsClient, "iq", attr("type", typ), attr("to", c.To)).AddChild(payload)
	reply, err := c.iq.SendIQ(ctx, iq)
	if err != nil {
		return nil, fmt.Errorf("archive: <%s/>: %w", payload.Name.Local, err)
	}
	if want == "" {
		return nil, nil
	}
	var found *xmltree.Element
	for _, ch := range reply.Children() {
		if ch.Name.Space == NS && ch.Name.Local == want {
			if found != nil {
				return nil, malformed("reply with two <%s/>", want)
			}
			found = ch
		}
	}
	return found, nil
}

// Prefs returns the user's archiving preferences (XEP-0136 §2.3). The
// server then pushes later changes to this stream; see [ParsePush].
func (c *Client) Prefs(ctx context.Context) (*Prefs, error) {
	e, err := c.send(ctx, "get", xmltree.New(NS, "pref"), "pref")
	if err != nil {
		return nil, err
	}
	if e == nil {
		return nil, malformed("the reply has no <pref/>")
	}
	p, err := ParsePrefs(e)
	if err != nil {
		return nil, err
	}
	if err := p.Complete(); err != nil {
		return nil, err
	}
	return p, nil
}

// SetPrefs changes preferences (XEP-0136 §2.4-2.7): p's default, items,
// sessions and methods, after [Prefs.Validate].
func (c *Client) SetPrefs(ctx context.Context, p *Prefs) error {
	if err := p.Validate(); err != nil {
		return err
	}
	_, err := c.send(ctx, "set", p.Element(), "")
	return err
}

// SetAuto turns automatic archiving on or off for this stream or, with
// ScopeGlobal, also for later ones (XEP-0136 §6). A server that requires
// logging refuses to turn it off (not-allowed).
func (c *Client) SetAuto(ctx context.Context, a Auto) error {
	e := el(NS, "auto", attr("save", fmt.Sprint(a.Save)), attr("scope", string(a.Scope)))
	_, err := c.send(ctx, "set", e, "")
	return err
}

// RemoveItems removes all preferences for the given contacts
// (<itemremove/>, XEP-0136 §2.5).
func (c *Client) RemoveItems(ctx context.Context, jids ...string) error {
	if len(jids) == 0 {
		return errors.New("archive: RemoveItems needs a JID")
	}
	e := xmltree.New(NS, "itemremove")
	for _, j := range jids {
		if _, err := checkJID("item jid", j); err != nil {
			return err
		}
		e.AddChild(el(NS, "item", attr("jid", j)))
	}
	_, err := c.send(ctx, "set", e, "")
	return err
}

// RemoveSessions removes the preferences of chat sessions
// (<sessionremove/>, XEP-0136 §2.6).
func (c *Client) RemoveSessions(ctx context.Context, threads ...string) error {
	if len(threads) == 0 {
		return errors.New("archive: RemoveSessions needs a thread")
	}
	e := xmltree.New(NS, "sessionremove")
	for _, t := range threads {
		if t == "" {
			return errors.New("archive: empty thread")
		}
		e.AddChild(el(NS, "session", attr("thread", t)))
	}
	_, err := c.send(ctx, "set", e, "")
	return err
}

// Push is a preference change the server pushed (XEP-0136 §2.4-2.7).
type Push struct {
	Prefs           *Prefs   // changed preferences (<pref/>), or nil
	RemovedItems    []string // JIDs of an <itemremove/>
	RemovedSessions []string // threads of a <sessionremove/>
}

// ParsePush parses a pushed IQ set. It returns (nil, nil) for an IQ that
// is not an archiving push. The caller answers pushes with an empty
// result, and must check that the push came from its own account or
// server (no 'from', the bare JID or the domain).
func ParsePush(iq *xmltree.Element) (*Push, error) {
	if iq == nil || iq.Name.Local != "iq" || iq.Attribute("type") != "set" {
		return nil, nil
	}
	kids := iq.Children()
	if len(kids) != 1 || kids[0].Name.Space != NS {
		return nil, nil
	}
	e := kids[0]
	switch e.Name.Local {
	case "pref":
		p, err := ParsePrefs(e)
		if err != nil {
			return nil, err
		}
		return &Push{Prefs: p}, nil
	case "itemremove":
		var out Push
		for _, it := range e.Children() {
			if it.Name.Space != NS || it.Name.Local != "item" {
				return nil, malformed("unexpected <%s/> in <itemremove/>", it.Name.Local)
			}
			j, err := checkJID("item jid", it.Attribute("jid"))
			if err != nil {
				return nil, err
			}
			out.RemovedItems = append(out.RemovedItems, j)
		}
		return &out, nil
	case "sessionremove":
		var out Push
		for _, s := range e.Children() {
			if s.Name.Space != NS || s.Name.Local != "session" || s.Attribute("thread") == "" {
				return nil, malformed("bad <%s/> in <sessionremove/>", s.Name.Local)
			}
			if err := checkAttr("thread", s.Attribute("thread")); err != nil {
				return nil, err
			}
			out.RemovedSessions = append(out.RemovedSessions, s.Attribute("thread"))
		}
		return &out, nil
	}
	return nil, nil
}

// Save uploads one <chat/> (XEP-0136 §5.2): it creates the collection
// (version 0) or appends to it. It returns the collection's attributes
// from the reply, without entries. Large collections go through
// [Client.Upload], which chunks them.
func (c *Client) Save(ctx context.Context, coll *Collection) (*Collection, error) {
	chat, err := coll.Element()
	if err != nil {
		return nil, err
	}
	reply, err := c.send(ctx, "set", xmltree.New(NS, "save").AddChild(chat), "save")
	if err != nil {
		return nil, err
	}
	if reply == nil {
		return nil, malformed("the reply to <save/> has no <save/>")
	}
	kids := reply.Children()
	if len(kids) != 1 {
		return nil, malformed("the reply's <save/> holds %d elements, want one <chat/>", len(kids))
	}
	got, err := ParseCollection(kids[0])
	if err != nil {
		return nil, err
	}
	if got.Version < 0 {
		return nil, malformed("the reply's <chat/> has no version")
	}
	if got.With != coll.With || !sameStart(got.Start, coll.Start) {
		return nil, malformed("the reply names collection %s, not %s", got.ID(), coll.ID())
	}
	return got, nil
}

// UploadOptions tune [Client.Upload].
type UploadOptions struct {
	// Sealer encrypts the entries (XEP-0241); nil uploads plaintext.
	Sealer *Sealer
	// ChunkEntries bounds the entries per <save/> (default 100); ChunkBytes
	// the bytes of message text per <save/> (default 48 KiB).
	ChunkEntries, ChunkBytes int
}

// Upload saves a collection in chunks small enough for the server's rate
// limits: each chunk is a <save/> appended to the same collection.
// With a Sealer, each chunk is one <EncryptedData/> under the same key
// and the first chunk carries the wrapped keys. Links and the form go
// with the first chunk. It returns the collection's attributes after the
// last chunk; on failure the error says how many chunks were saved.
func (c *Client) Upload(ctx context.Context, coll *Collection, opts UploadOptions) (*Collection, error) {
	if coll.IsEncrypted() {
		return nil, fmt.Errorf("archive: Upload takes plaintext entries (use Save for prepared encrypted data)")
	}
	if opts.ChunkEntries <= 0 {
		opts.ChunkEntries = 100
	}
	if opts.ChunkBytes <= 0 {
		opts.ChunkBytes = 48 << 10
	}
	chunks := chunk(coll.Entries, opts.ChunkEntries, opts.ChunkBytes)
	if len(chunks) == 0 {
		chunks = [][]Entry{nil}
	}
	var last *Collection
	for i, ch := range chunks {
		part := &Collection{With: coll.With, Start: coll.Start, Thread: coll.Thread, Subject: coll.Subject}
		if i == 0 {
			part.Previous, part.Next, part.Form = coll.Previous, coll.Next, coll.Form
		}
		if opts.Sealer != nil && len(ch) > 0 {
			d, err := opts.Sealer.Seal(ch)
			if err != nil {
				return last, err
			}
			part.Encrypted = []*EncryptedData{d}
			if i == 0 {
				part.Keys = opts.Sealer.Keys()
			}
		} else {
			part.Entries = ch
		}
		got, err := c.Save(ctx, part)
		if err != nil {
			if i > 0 {
				return last, fmt.Errorf("%w (after %d of %d chunks were saved)", err, i, len(chunks))
			}
			return nil, err
		}
		last = got
	}
	return last, nil
}

// chunk splits entries by count and text size.
func chunk(entries []Entry, maxEntries, maxBytes int) [][]Entry {
	var out [][]Entry
	start, size := 0, 0
	for i, e := range entries {
		n := len(e.Body) + len(e.Name) + len(e.JID) + 64
		if i > start && (i-start >= maxEntries || size+n > maxBytes) {
			out = append(out, entries[start:i])
			start, size = i, 0
		}
		size += n
	}
	if start < len(entries) {
		out = append(out, entries[start:])
	}
	return out
}

// Query selects collections (XEP-0136 §7.1): With by JID matching (a full
// JID, a bare JID or a domain; ExactMatch for the exact string), Start on
// or after, End before. Zero fields are absent.
type Query struct {
	With       string
	ExactMatch bool
	Start, End time.Time
}

func (q Query) apply(e *xmltree.Element) error {
	if q.With != "" {
		if _, err := checkJID("with", q.With); err != nil {
			return err
		}
		e.SetAttr("with", q.With)
		if q.ExactMatch {
			e.SetAttr("exactmatch", "true")
		}
	} else if q.ExactMatch {
		return errors.New("archive: exactmatch needs a JID")
	}
	if !q.Start.IsZero() {
		e.SetAttr("start", FormatTime(q.Start))
	}
	if !q.End.IsZero() {
		e.SetAttr("end", FormatTime(q.End))
	}
	return nil
}

// List returns one page of collections, oldest first, each without
// entries (XEP-0136 §7.1). No match gives no collections and no error.
func (c *Client) List(ctx context.Context, q Query, p Page) ([]*Collection, PageResult, error) {
	req := xmltree.New(NS, "list")
	if err := q.apply(req); err != nil {
		return nil, PageResult{}, err
	}
	set, err := p.element()
	if err != nil {
		return nil, PageResult{}, err
	}
	req.AddChild(set)
	e, err := c.send(ctx, "get", req, "list")
	if err != nil {
		return nil, PageResult{}, err
	}
	if e == nil {
		return nil, PageResult{}, malformed("the reply has no <list/>")
	}
	return ParseList(e)
}

// ParseList parses a <list/> result: empty <chat/> elements in
// chronological order, each with a version, then the RSM set.
func ParseList(e *xmltree.Element) ([]*Collection, PageResult, error) {
	if e == nil || e.Name.Space != NS || e.Name.Local != "list" {
		return nil, PageResult{}, malformed("want <list xmlns=%q/>", NS)
	}
	kids := e.Children()
	if len(kids) > maxPageItems {
		return nil, PageResult{}, tooLarge("a list of %d elements", len(kids))
	}
	var out []*Collection
	for _, k := range kids {
		if k.Name.Space == NSRSM && k.Name.Local == "set" {
			continue
		}
		if k.Name.Space != NS || k.Name.Local != "chat" {
			return nil, PageResult{}, malformed("unexpected <%s/> in <list/>", k.Name.Local)
		}
		if len(k.Children()) > 0 {
			return nil, PageResult{}, malformed("a listed <chat/> has children")
		}
		col, err := parseHeader(k)
		if err != nil {
			return nil, PageResult{}, err
		}
		if col.Version < 0 {
			return nil, PageResult{}, malformed("listed collection %s has no version", col.ID())
		}
		if n := len(out); n > 0 && col.Start.Before(out[n-1].Start) {
			return nil, PageResult{}, malformed("the list is not in chronological order")
		}
		out = append(out, col)
	}
	r, err := parseSet(e)
	return out, r, err
}

// ListAll pages through every collection matching q, pageSize at a time,
// and fails with ErrTooLarge beyond limit collections.
func (c *Client) ListAll(ctx context.Context, q Query, pageSize, limit int) ([]*Collection, error) {
	var out []*Collection
	p := Page{Max: pageSize}
	for {
		cols, r, err := c.List(ctx, q, p)
		if err != nil {
			return out, err
		}
		out = append(out, cols...)
		if len(out) > limit {
			return out, tooLarge("more than %d collections", limit)
		}
		if len(cols) == 0 || r.Last == "" || (r.Count >= 0 && len(out) >= r.Count) || r.Last == p.After {
			return out, nil
		}
		p.After = r.Last
	}
}

// FindThread returns the newest collection with with (exactly) whose
// thread is thread, or nil: manual archiving keeps one thread in one
// collection (XEP-0136 §4.3, A-43). It looks through at most limit
// collections with the same bare JID.
func (c *Client) FindThread(ctx context.Context, with, thread string, limit int) (*Collection, error) {
	j, err := jid.Parse(with)
	if err != nil {
		return nil, malformed("with %q is not a JID", truncate(with))
	}
	cols, err := c.ListAll(ctx, Query{With: j.Bare().String()}, 100, limit)
	if err != nil && !errors.Is(err, ErrTooLarge) {
		return nil, err
	}
	var found *Collection
	for _, col := range cols {
		if col.With == j.String() && col.Thread == thread && thread != "" {
			found = col
		}
	}
	return found, nil
}

// Retrieve returns one page of a collection (XEP-0136 §7.2): its
// attributes, links and form, and a page of entries, or of encrypted data
// with the <EncryptedKey/>s it references (XEP-0241 §5), limited to the
// public keys named in keyNames if any. The times of a later page's
// entries count from Start when its first entry gives 'secs'; use
// [Client.RetrieveAll] for exact times.
func (c *Client) Retrieve(ctx context.Context, with string, start time.Time, p Page, keyNames ...string) (*Collection, PageResult, error) {
	return c.retrieve(ctx, with, start, p, keyNames, start.UTC())
}

func (c *Client) retrieve(ctx context.Context, with string, start time.Time, p Page, keyNames []string, ref time.Time) (*Collection, PageResult, error) {
	if _, err := checkJID("with", with); err != nil {
		return nil, PageResult{}, err
	}
	if start.IsZero() {
		return nil, PageResult{}, errors.New("archive: retrieve needs with and start")
	}
	req := el(NS, "retrieve", attr("with", with), attr("start", FormatTime(start)))
	for _, kn := range keyNames {
		req.AddChild(xmltree.New(NSXMLDSig, "KeyName").AddText(kn))
	}
	set, err := p.element()
	if err != nil {
		return nil, PageResult{}, err
	}
	req.AddChild(set)
	e, err := c.send(ctx, "get", req, "chat")
	if err != nil {
		return nil, PageResult{}, err
	}
	if e == nil {
		return nil, PageResult{}, malformed("the reply has no <chat/>")
	}
	col, r, err := parseRetrieved(e, ref)
	if err != nil {
		return nil, PageResult{}, err
	}
	if col.With != with || !sameStart(col.Start, start) {
		return nil, PageResult{}, malformed("asked for %s %s, got collection %s", FormatTime(start), with, col.ID())
	}
	return col, r, nil
}

// parseRetrieved parses a retrieve result whose first message's 'secs'
// count from ref.
func parseRetrieved(e *xmltree.Element, ref time.Time) (*Collection, PageResult, error) {
	col, err := parseCollectionFrom(e, ref)
	if err != nil {
		return nil, PageResult{}, err
	}
	if col.Version < 0 {
		return nil, PageResult{}, malformed("the retrieved <chat/> has no version")
	}
	r, err := parseSet(e)
	return col, r, err
}

// RetrieveAll retrieves every page of a collection, pageSize entries at a
// time, and fails with ErrTooLarge beyond limit entries.
func (c *Client) RetrieveAll(ctx context.Context, with string, start time.Time, pageSize, limit int, keyNames ...string) (*Collection, error) {
	var all *Collection
	p := Page{Max: pageSize}
	ref := start.UTC()
	seen := map[[2]string]bool{}
	n := 0
	for {
		col, r, err := c.retrieve(ctx, with, start, p, keyNames, ref)
		if err != nil {
			return all, err
		}
		if all == nil {
			h := *col
			all = &h
			all.Entries, all.Encrypted, all.Keys = nil, nil, nil
		}
		all.Entries = append(all.Entries, col.Entries...)
		all.Encrypted = append(all.Encrypted, col.Encrypted...)
		for _, k := range col.Keys {
			id := [2]string{k.CarriedKeyName, k.KeyName}
			if !seen[id] {
				seen[id] = true
				all.Keys = append(all.Keys, k)
			}
		}
		if m := len(col.Entries); m > 0 {
			ref = col.Entries[m-1].Time
			for i := m - 1; i >= 0; i-- {
				if col.Entries[i].Kind != KindNote {
					ref = col.Entries[i].Time
					break
				}
			}
		}
		got := len(col.Entries) + len(col.Encrypted)
		n += got
		if n > limit {
			return all, tooLarge("a collection of more than %d items", limit)
		}
		if got == 0 || r.Last == "" || (r.Count >= 0 && n >= r.Count) || r.Last == p.After {
			if len(all.Entries) > 0 && len(all.Encrypted) > 0 {
				return nil, fmt.Errorf("%w: %w", ErrMalformed, ErrMixed)
			}
			return all, nil
		}
		p.After = r.Last
	}
}

// RemoveQuery selects collections to remove (XEP-0136 §7.3):
//   - With and Start (no End): that one collection;
//   - Start and/or End, optionally With (JID matching, ExactMatch): a range;
//   - Open: the collections automatic archiving is recording, optionally
//     only With's (used to drop an auto-archived OTR negotiation, A-40);
//   - All: every collection (and nothing else may be set).
type RemoveQuery struct {
	With       string
	ExactMatch bool
	Start, End time.Time
	Open       bool
	All        bool
}

// Remove removes collections. A query matching nothing fails with the
// server's item-not-found.
func (c *Client) Remove(ctx context.Context, q RemoveQuery) error {
	e := xmltree.New(NS, "remove")
	empty := q.With == "" && q.Start.IsZero() && q.End.IsZero() && !q.Open && !q.ExactMatch
	switch {
	case q.All && !empty:
		return errors.New("archive: remove all takes no other selector")
	case !q.All && empty:
		return errors.New("archive: remove needs a selector (or All)")
	case q.Open && (!q.Start.IsZero() || !q.End.IsZero()):
		return errors.New("archive: remove open takes only a JID")
	}
	if err := (Query{With: q.With, ExactMatch: q.ExactMatch, Start: q.Start, End: q.End}).apply(e); err != nil {
		return err
	}
	if q.Open {
		e.SetAttr("open", "true")
	}
	_, err := c.send(ctx, "set", e, "")
	return err
}

// Modified returns the collections changed or removed since since, in
// the order of modification (XEP-0136 §8). Keep PageResult.Last and pass
// it as Page.After on the next synchronisation.
func (c *Client) Modified(ctx context.Context, since time.Time, p Page) ([]Change, PageResult, error) {
	req := el(NS, "modified", attr("start", FormatTime(since)))
	set, err := p.element()
	if err != nil {
		return nil, PageResult{}, err
	}
	req.AddChild(set) // RSM is required here
	e, err := c.send(ctx, "get", req, "modified")
	if err != nil {
		return nil, PageResult{}, err
	}
	if e == nil {
		return nil, PageResult{}, malformed("the reply has no <modified/>")
	}
	return ParseModified(e)
}

// ParseModified parses a <modified/> result.
func ParseModified(e *xmltree.Element) ([]Change, PageResult, error) {
	if e == nil || e.Name.Space != NS || e.Name.Local != "modified" {
		return nil, PageResult{}, malformed("want <modified xmlns=%q/>", NS)
	}
	kids := e.Children()
	if len(kids) > maxPageItems {
		return nil, PageResult{}, tooLarge("%d changes", len(kids))
	}
	var out []Change
	for _, k := range kids {
		if k.Name.Space == NSRSM && k.Name.Local == "set" {
			continue
		}
		if k.Name.Space != NS || (k.Name.Local != "changed" && k.Name.Local != "removed") || len(k.Children()) > 0 {
			return nil, PageResult{}, malformed("unexpected <%s/> in <modified/>", k.Name.Local)
		}
		h, err := parseHeader(k)
		if err != nil {
			return nil, PageResult{}, err
		}
		if h.Version < 0 {
			return nil, PageResult{}, malformed("<%s/> without version", k.Name.Local)
		}
		out = append(out, Change{With: h.With, Start: h.Start, Version: h.Version, Removed: k.Name.Local == "removed"})
	}
	r, err := parseSet(e)
	return out, r, err
}

// sameStart compares a collection's start in a reply with the one asked
// for; a server may keep whole seconds only.
func sameStart(got, want time.Time) bool {
	return got.Equal(want) || got.Equal(want.Truncate(time.Second))
}
