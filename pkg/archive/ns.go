package archive

import (
	"strconv"
	"strings"
	"time"

	"github.com/esn-project/esn/pkg/xmltree"
	"mellium.im/xmpp/jid"
)

// Namespaces and disco features.
const (
	// NS is the XEP-0136 namespace (digest §8.6 #53: not urn:xmpp:archive:data).
	NS = "urn:xmpp:archive"
	// Disco features a server advertises for each part it supports
	// (XEP-0136 §9).
	FeatureAuto   = NS + ":auto"
	FeatureManage = NS + ":manage"
	FeatureManual = NS + ":manual"
	FeaturePref   = NS + ":pref"
	// FeatureEncrypt is XEP-0241 §7's server-side encryption feature with
	// its placeholder URN replaced by NS (digest §6.9).
	FeatureEncrypt = NS + ":encrypt"

	// NSRSM is XEP-0059 Result Set Management.
	NSRSM = "http://jabber.org/protocol/rsm"
	// NSXMLEnc is W3C XML Encryption 1.0, NSXMLEnc11 its version 1.1.
	NSXMLEnc   = "http://www.w3.org/2001/04/xmlenc#"
	NSXMLEnc11 = "http://www.w3.org/2009/xmlenc11#"
	// NSXMLDSig is W3C XML Signature (KeyInfo, KeyName, DigestMethod).
	NSXMLDSig = "http://www.w3.org/2000/09/xmldsig#"
	// NSDataForms is XEP-0004 (the collection's attributes form).
	NSDataForms = "jabber:x:data"
)

// Bounds on what the parsers accept, beyond the stanza size limit the
// transport already enforces.
const (
	maxJID       = 3071 // RFC 7622 §3.1: three parts of at most 1023 bytes
	maxAttr      = 3071 // thread, subject, key names and other attribute values
	maxPageItems = 10000
	maxPrefItems = 10000
	// MaxPage is the largest RSM page size a request may ask for.
	MaxPage = 1000
)

// timeLayout is the XEP-0082 DateTime profile as emitted: UTC, with a
// fraction only when the time has one (times esn makes are whole seconds;
// a server's start times are echoed exactly).
const timeLayout = "2006-01-02T15:04:05.999999999Z"

// FormatTime formats t as an XEP-0082 DateTime in UTC.
func FormatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

// ParseTime parses an XEP-0082 DateTime. A missing zone is taken as UTC
// (digest §8 #19); the result is in UTC.
func ParseTime(s string) (time.Time, error) {
	if len(s) > 64 {
		return time.Time{}, malformed("DateTime of %d bytes", len(s))
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t, err = time.ParseInLocation("2006-01-02T15:04:05.999999999", s, time.UTC)
	}
	if err != nil {
		return time.Time{}, malformed("bad DateTime %q", s)
	}
	return t.UTC(), nil
}

// parseBool is xs:boolean.
func parseBool(s string) (bool, bool) {
	switch s {
	case "1", "true":
		return true, true
	case "0", "false":
		return false, true
	}
	return false, false
}

func attr(name, value string) xmlAttr { return xmlAttr{name, value} }

type xmlAttr struct{ name, value string }

// el builds an element in space with the non-empty attributes given.
func el(space, local string, attrs ...xmlAttr) *xmltree.Element {
	e := xmltree.New(space, local)
	for _, a := range attrs {
		if a.value != "" {
			e.SetAttr(a.name, a.value)
		}
	}
	return e
}

// checkJID validates a JID attribute value.
func checkJID(what, s string) (string, error) {
	if s == "" {
		return "", malformed("missing %s", what)
	}
	if len(s) > maxJID {
		return "", malformed("%s of %d bytes", what, len(s))
	}
	j, err := jid.Parse(s)
	if err != nil {
		return "", malformed("%s %q is not a JID", what, truncate(s))
	}
	return j.String(), nil
}

// checkAttr bounds an attribute value.
func checkAttr(what, s string) error {
	if len(s) > maxAttr {
		return malformed("%s of %d bytes", what, len(s))
	}
	return nil
}

// nonNegInt parses xs:nonNegativeInteger within int64 seconds.
func nonNegInt(what, s string) (int64, error) {
	if s == "" || len(s) > 12 || strings.TrimLeft(s, "0123456789") != "" {
		return 0, malformed("%s %q is not a non-negative integer", what, truncate(s))
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, malformed("%s %q: %v", what, truncate(s), err)
	}
	return n, nil
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// only checks that e has no element children other than those allowed
// (by namespace and local name).
func onlyChildren(e *xmltree.Element, allowed func(space, local string) bool) error {
	for _, c := range e.Children() {
		if !allowed(c.Name.Space, c.Name.Local) {
			return malformed("unexpected <%s xmlns=%q/> in <%s/>", c.Name.Local, c.Name.Space, e.Name.Local)
		}
	}
	return nil
}
