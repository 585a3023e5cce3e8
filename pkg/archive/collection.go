package archive

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/esn-project/esn/pkg/xmltree"
)

// Kind says what an [Entry] is.
type Kind int

// Entry kinds: the <to/>, <from/> and <note/> children of a collection.
const (
	KindFrom Kind = iota // a message from the peer (<from/>)
	KindTo               // a message to the peer (<to/>)
	KindNote             // a private note (<note/>)
)

func (k Kind) String() string {
	switch k {
	case KindTo:
		return "to"
	case KindFrom:
		return "from"
	case KindNote:
		return "note"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Entry is one message or note of a collection (XEP-0136 §4.6, §4.7).
type Entry struct {
	Kind Kind
	// Time is the absolute time of the message, in whole seconds: from
	// 'utc', or the previous message's time plus 'secs'. Zero for a note
	// without 'utc'.
	Time time.Time
	// Body is the message's <body/> (Save Mode body), or the note's text.
	// A message archived with its full content (Save Mode message) has
	// its other children dropped here.
	Body string
	// Name is the nickname of a groupchat sender; JID the sender's JID if
	// known (<from/> in MUC collections).
	Name, JID string
}

// Link is a <previous/> or <next/> link to another collection. A Link with
// an empty With deletes the link on upload.
type Link struct {
	With  string
	Start time.Time
}

// Collection is one <chat/> (XEP-0136 §4): the messages exchanged with
// one JID, identified by With and Start. On a server reply it may hold a
// page of Entries, or, for a XEP-0241 encrypted collection, Encrypted data
// and the wrapped Keys instead (never both).
type Collection struct {
	With    string
	Start   time.Time
	Thread  string // exactly the messages' <thread/>; "" for none
	Subject string // never encrypted, even in an encrypted collection
	// Version is assigned by the server: 0 on creation, +1 per change.
	// -1 when absent (as in requests).
	Version int
	// Crypt is the 'crypt' attribute of a list result (XEP-0241 §4): the
	// collection holds encrypted data.
	Crypt bool

	Previous, Next *Link
	// Form is the XEP-0004 attributes form, as received or to upload.
	Form *xmltree.Element

	Entries   []Entry
	Encrypted []*EncryptedData
	Keys      []*EncryptedKey
}

// IsEncrypted reports whether the collection holds XEP-0241 data.
func (c *Collection) IsEncrypted() bool {
	return c.Crypt || len(c.Encrypted) > 0 || len(c.Keys) > 0
}

// ID returns the collection's identity "start with" for messages.
func (c *Collection) ID() string { return FormatTime(c.Start) + " " + c.With }

// header returns the <chat/> element with the collection's attributes.
func (c *Collection) header(space string) *xmltree.Element {
	e := el(space, "chat", attr("with", c.With), attr("start", FormatTime(c.Start)),
		attr("thread", c.Thread), attr("subject", c.Subject))
	return e
}

// Element returns the <chat/> element to upload in a <save/> (XEP-0136
// §5.2): the links, the form, then the entries or the encrypted data and
// keys. It returns ErrMixed for a collection with both entries and
// encrypted data, and an error for a collection without With or Start.
//
// Times: the first message carries 'utc' (so an upload appended to an
// existing collection places it correctly), each later one 'secs' after
// the previous message; rounding never lets the running sum drift
// . A message earlier than its predecessor carries 'utc' again.
// Notes carry 'utc' when their Time is set.
func (c *Collection) Element() (*xmltree.Element, error) {
	if c.With == "" || c.Start.IsZero() {
		return nil, fmt.Errorf("archive: a collection needs with and start")
	}
	if len(c.Entries) > 0 && (len(c.Encrypted) > 0 || len(c.Keys) > 0) {
		return nil, ErrMixed
	}
	e := c.header(NS)
	for _, l := range []struct {
		name string
		link *Link
	}{{"previous", c.Previous}, {"next", c.Next}} {
		if l.link == nil {
			continue
		}
		if l.link.With == "" {
			e.AddChild(xmltree.New(NS, l.name))
		} else {
			e.AddChild(el(NS, l.name, attr("with", l.link.With), attr("start", FormatTime(l.link.Start))))
		}
	}
	if c.Form != nil {
		e.AddChild(c.Form)
	}
	if err := appendEntries(e, c.Entries); err != nil {
		return nil, err
	}
	for _, d := range c.Encrypted {
		e.AddChild(d.Element())
	}
	for _, k := range c.Keys {
		e.AddChild(k.Element())
	}
	return e, nil
}

// appendEntries adds the <to/>/<from/>/<note/> elements of entries to e.
func appendEntries(e *xmltree.Element, entries []Entry) error {
	var ref time.Time // the previous message's time as encoded
	for i, en := range entries {
		var c *xmltree.Element
		switch en.Kind {
		case KindNote:
			c = xmltree.New(NS, "note")
			if !en.Time.IsZero() {
				c.SetAttr("utc", FormatTime(en.Time))
			}
			c.AddText(en.Body)
			e.AddChild(c)
			continue
		case KindTo, KindFrom:
			c = el(NS, en.Kind.String(), attr("name", en.Name), attr("jid", en.JID))
		default:
			return fmt.Errorf("archive: entry %d has unknown kind %v", i, en.Kind)
		}
		t := en.Time.UTC().Truncate(time.Second)
		if t.IsZero() {
			return fmt.Errorf("archive: message %d has no time", i)
		}
		if ref.IsZero() || t.Before(ref) {
			c.SetAttr("utc", FormatTime(t))
			ref = t
		} else {
			secs := int64(t.Sub(ref) / time.Second)
			c.SetAttr("secs", strconv.FormatInt(secs, 10))
			ref = ref.Add(time.Duration(secs) * time.Second)
		}
		// A message MUST NOT be empty (XEP-0136 §4.6): an empty body
		// still gives <body/>.
		c.AddChild(xmltree.New(NS, "body").AddText(en.Body))
		e.AddChild(c)
	}
	return nil
}

// ParseCollection parses a <chat xmlns='urn:xmpp:archive'/> element: a
// retrieve result, a list entry or a save reply. It is strict: unknown
// children, bad times and JIDs, a mix of plaintext and encrypted children
// are refused; sizes are bounded. A missing version gives Version -1.
func ParseCollection(e *xmltree.Element) (*Collection, error) {
	return parseCollectionFrom(e, time.Time{})
}

// parseCollectionFrom parses a <chat/> whose first message's 'secs' count
// from ref (zero: from the collection's start).
func parseCollectionFrom(e *xmltree.Element, ref time.Time) (*Collection, error) {
	if e == nil || e.Name.Space != NS || e.Name.Local != "chat" {
		return nil, malformed("want <chat xmlns=%q/>", NS)
	}
	c, err := parseHeader(e)
	if err != nil {
		return nil, err
	}
	kids := e.Children()
	if len(kids) > maxPageItems {
		return nil, tooLarge("a collection of %d elements", len(kids))
	}
	if ref.IsZero() {
		ref = c.Start
	}
	for _, k := range kids {
		switch {
		case k.Name.Space == NS && (k.Name.Local == "previous" || k.Name.Local == "next"):
			l, err := parseLink(k)
			if err != nil {
				return nil, err
			}
			if k.Name.Local == "previous" {
				c.Previous = l
			} else {
				c.Next = l
			}
		case k.Name.Space == NSDataForms && k.Name.Local == "x":
			if c.Form != nil {
				return nil, malformed("two attribute forms")
			}
			c.Form = k
		case k.Name.Space == NS && (k.Name.Local == "to" || k.Name.Local == "from" || k.Name.Local == "note"):
			en, next, err := parseEntry(k, ref)
			if err != nil {
				return nil, err
			}
			ref = next
			c.Entries = append(c.Entries, en)
		case k.Name.Space == NSXMLEnc && k.Name.Local == "EncryptedData":
			d, err := ParseEncryptedData(k)
			if err != nil {
				return nil, err
			}
			c.Encrypted = append(c.Encrypted, d)
		case k.Name.Space == NSXMLEnc && k.Name.Local == "EncryptedKey":
			ek, err := ParseEncryptedKey(k)
			if err != nil {
				return nil, err
			}
			c.Keys = append(c.Keys, ek)
		case k.Name.Space == NSRSM && k.Name.Local == "set":
			// The RSM result; parsed by the caller.
		default:
			return nil, malformed("unexpected <%s xmlns=%q/> in <chat/>", k.Name.Local, k.Name.Space)
		}
	}
	if len(c.Entries) > 0 && (len(c.Encrypted) > 0 || len(c.Keys) > 0) {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, ErrMixed)
	}
	return c, nil
}

// parseHeader reads the attributes of a <chat/> (also list entries,
// <changed/> and <removed/>).
func parseHeader(e *xmltree.Element) (*Collection, error) {
	with, err := checkJID("with", e.Attribute("with"))
	if err != nil {
		return nil, err
	}
	sa, ok := e.AttrValue("start")
	if !ok {
		return nil, malformed("<%s/> without start", e.Name.Local)
	}
	start, err := ParseTime(sa)
	if err != nil {
		return nil, err
	}
	c := &Collection{With: with, Start: start, Version: -1, Thread: e.Attribute("thread"), Subject: e.Attribute("subject")}
	if err := checkAttr("thread", c.Thread); err != nil {
		return nil, err
	}
	if err := checkAttr("subject", c.Subject); err != nil {
		return nil, err
	}
	if v, ok := e.AttrValue("version"); ok {
		n, err := nonNegInt("version", v)
		if err != nil {
			return nil, err
		}
		if n > math.MaxInt32 {
			return nil, malformed("version %d out of range", n)
		}
		c.Version = int(n)
	}
	if v, ok := e.AttrValue("crypt"); ok {
		if c.Crypt, ok = parseBool(v); !ok {
			return nil, malformed("crypt %q", truncate(v))
		}
	}
	return c, nil
}

func parseLink(e *xmltree.Element) (*Link, error) {
	w, hasWith := e.AttrValue("with")
	s, hasStart := e.AttrValue("start")
	if !hasWith && !hasStart {
		return &Link{}, nil
	}
	with, err := checkJID("link with", w)
	if err != nil {
		return nil, err
	}
	start, err := ParseTime(s)
	if err != nil {
		return nil, err
	}
	return &Link{With: with, Start: start}, nil
}

// parseEntry parses a <to/>, <from/> or <note/>; ref is the previous
// message's time. It returns the entry and the new reference time.
func parseEntry(e *xmltree.Element, ref time.Time) (Entry, time.Time, error) {
	var en Entry
	var t time.Time
	if u, ok := e.AttrValue("utc"); ok {
		var err error
		if t, err = ParseTime(u); err != nil {
			return en, ref, err
		}
		t = t.Truncate(time.Second)
	}
	if e.Name.Local == "note" {
		if len(e.Children()) > 0 {
			return en, ref, malformed("<note/> with child elements")
		}
		return Entry{Kind: KindNote, Time: t, Body: e.Text()}, ref, nil
	}
	en.Kind = KindFrom
	if e.Name.Local == "to" {
		en.Kind = KindTo
	}
	if s, ok := e.AttrValue("secs"); ok {
		if !t.IsZero() {
			return en, ref, malformed("<%s/> with both secs and utc", e.Name.Local)
		}
		n, err := seconds("secs", s)
		if err != nil {
			return en, ref, err
		}
		t = ref.Add(n)
	}
	if t.IsZero() {
		t = ref // secs SHOULD be present; without it, the previous time
	}
	en.Time = t
	en.Name, en.JID = e.Attribute("name"), e.Attribute("jid")
	if err := checkAttr("name", en.Name); err != nil {
		return en, ref, err
	}
	if en.JID != "" {
		if _, err := checkJID("sender jid", en.JID); err != nil {
			return en, ref, err
		}
	}
	kids := e.Children()
	if len(kids) == 0 {
		return en, ref, malformed("empty <%s/>", e.Name.Local) // MUST NOT be empty
	}
	if b := e.Child("", "body"); b != nil {
		if len(b.Children()) > 0 {
			return en, ref, malformed("<body/> with child elements")
		}
		en.Body = b.Text()
	}
	return en, t, nil
}

// Change is one entry of a <modified/> result (XEP-0136 §8): a collection
// created or changed (Removed false; Version 0 means created) or removed.
type Change struct {
	With    string
	Start   time.Time
	Version int
	Removed bool
}

// Page asks for one page of a result set (XEP-0059). Max 0 lets the
// server choose; After and Before are opaque IDs from an earlier
// [PageResult].
type Page struct {
	Max    int
	After  string
	Before string
}

func (p Page) element() (*xmltree.Element, error) {
	if p.Max < 0 || p.Max > MaxPage {
		return nil, fmt.Errorf("archive: page size %d out of range 0..%d", p.Max, MaxPage)
	}
	if p.After != "" && p.Before != "" {
		return nil, fmt.Errorf("archive: a page is either after or before an ID")
	}
	s := xmltree.New(NSRSM, "set")
	if p.Max > 0 {
		s.AddChild(xmltree.New(NSRSM, "max").AddText(strconv.Itoa(p.Max)))
	}
	if p.After != "" {
		s.AddChild(xmltree.New(NSRSM, "after").AddText(p.After))
	}
	if p.Before != "" {
		s.AddChild(xmltree.New(NSRSM, "before").AddText(p.Before))
	}
	return s, nil
}

// PageResult is the RSM <set/> of a reply. First and Last are opaque IDs;
// FirstIndex and Count are -1 when the server did not say.
type PageResult struct {
	First, Last string
	FirstIndex  int
	Count       int
}

// parseSet reads the optional RSM <set/> child of e.
func parseSet(e *xmltree.Element) (PageResult, error) {
	r := PageResult{FirstIndex: -1, Count: -1}
	s := e.Child(NSRSM, "set")
	if s == nil {
		return r, nil
	}
	for _, c := range s.Children() {
		if c.Name.Space != NSRSM {
			continue
		}
		if len(c.Children()) > 0 {
			return r, malformed("RSM <%s/> with child elements", c.Name.Local)
		}
		switch c.Name.Local {
		case "first":
			r.First = c.Text()
			if v, ok := c.AttrValue("index"); ok {
				n, err := nonNegInt("RSM index", v)
				if err != nil || n > math.MaxInt32 {
					return r, malformed("RSM index %q", truncate(v))
				}
				r.FirstIndex = int(n)
			}
		case "last":
			r.Last = c.Text()
		case "count":
			n, err := nonNegInt("RSM count", c.Text())
			if err != nil || n > math.MaxInt32 {
				return r, malformed("RSM count %q", truncate(c.Text()))
			}
			r.Count = int(n)
		}
	}
	if err := checkAttr("RSM first", r.First); err != nil {
		return r, err
	}
	if err := checkAttr("RSM last", r.Last); err != nil {
		return r, err
	}
	return r, nil
}
