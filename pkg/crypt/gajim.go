package crypt

import (
	"cmp"
	"crypto/rand"
	"encoding/xml"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/esn-project/esn/pkg/xmltree"
)

// This file is the Gajim compatibility profile: the encodings of Gajim
// 0.11.4–1.0.3 (gajim/common/stanza_session.py, crypto.py and nbxmpp's
// c14n.py), the only client that ever shipped ESessions. The facts are in
// the guide's gajim-compat.md. Everything else in this package serves both
// profiles: the profile is one more Suite value.

// ProfileGajim is the Suite.Profile of [GajimSuite].
const ProfileGajim = "gajim"

// GajimNotice is the clear-text <body/> Gajim puts after the <c/> of every
// encrypted stanza (its English text).
const GajimNotice = "[This is part of an encrypted session. If you see this message, something went wrong.]"

// GajimNonceSize is the length of Gajim's my_nonce.
const GajimNonceSize = 8

// GajimSuite returns the Gajim compatibility profile (gajim-compat.md):
//
//   - the form says aes128-ctr, but the whole 32-byte HMAC output keys the
//     cipher, so it is AES-256 (CipherKeyLen 32);
//   - CTR mode starts at counter + 1 (CTRStart 1), the counter block being
//     the counter as 16 octets;
//   - the XEP-0200 MAC is sealed with the counter as 16 octets (mpi16, what
//     Gajim verifies) and a received MAC is accepted with the counter as 16
//     octets or minimal (mpi, what Gajim sends); they differ only when the
//     counter is below 2^120;
//   - plaintext padded with spaces to a multiple of 16 octets;
//   - the SAS is not left-padded;
//   - forms are normalized with Gajim's c14n ([NormGajim]) and stanza
//     children serialized like nbxmpp ([PlainGajim]);
//   - only <error/>, <amp/> and <thread/> stay in the clear, and a
//     clear-text <body/> notice ([GajimNotice]) follows the <c/>.
//
// The identity MAC (unpadded counter), K = SHA256(mpi(g^xy mod p)), the
// key labels and K' = SHA256(K | SRS | OSS), always hashed, are the same as
// in the XEP profile.
func GajimSuite() Suite {
	s := XEPSuite()
	s.Profile = ProfileGajim
	s.CipherKeyLen = 32
	s.MACCounter = []CounterEncoding{CounterPadded16, CounterMinimal}
	s.CTRStart = 1
	s.Padding = PadSpaces16
	s.SASNoPad = true
	s.Normalization = NormGajim
	s.Plain = PlainGajim
	s.Notice = GajimNotice
	s.ClearText = GajimClearText()
	return s
}

// GajimClearText is what Gajim never encrypts: every child of the message
// except <error/>, <amp/> and <thread/> is encrypted.
func GajimClearText() []xml.Name {
	return []xml.Name{
		{Space: NSClient, Local: "thread"},
		{Space: NSClient, Local: "error"},
		{Space: "http://jabber.org/protocol/amp", Local: "amp"},
	}
}

// GenerateGajimCounter draws C_A as Gajim does: a uniformly random 128-bit
// integer (whose minimal encoding is shorter than 16 octets once in 256
// draws). rand nil means crypto/rand.
func GenerateGajimCounter(r io.Reader) (Counter, error) {
	if r == nil {
		r = rand.Reader
	}
	var b [16]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return Counter{}, fmt.Errorf("crypt: drawing a counter: %w", err)
	}
	c, _ := CounterFromBytes(b[:])
	return c, nil
}

// GenerateGajimNonce returns Gajim's 8 random octets of my_nonce. rand nil
// means crypto/rand.
func GenerateGajimNonce(r io.Reader) ([]byte, error) {
	if r == nil {
		r = rand.Reader
	}
	b := make([]byte, GajimNonceSize)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("crypt: drawing a nonce: %w", err)
	}
	return b, nil
}

// appendNotice writes the suite's clear-text <body/> notice, if any, in
// the jabber:client context of the stanza.
func (s *Suite) appendNotice(dst []byte) []byte {
	if s.Notice == "" {
		return dst
	}
	dst = append(dst, "<body>"...)
	dst = gajimEscape(dst, s.Notice, gajimText)
	return append(dst, "</body>"...)
}

// isNotice reports whether a received stanza child is the suite's clear
// <body/> notice: a <body/> outside the <c/>, which is unauthenticated and
// so never part of the secure session.
func (s *Suite) isNotice(el *xmltree.Element) bool {
	return s.Notice != "" && el.Name.Local == "body" && (el.Name.Space == NSClient || el.Name.Space == "")
}

// DropsClear reports whether a clear-text child received next to a <c/>
// must be dropped rather than passed on with the decrypted content: the
// profile's <body/> notice. The XEP profile drops nothing here.
func (s *Suite) DropsClear(el *xmltree.Element) bool {
	return el != nil && s.isNotice(el)
}

// Escaping tables of nbxmpp: c14n.py's normalise_text (& < > CR) and
// normalise_attr (& < " TAB LF CR), and simplexml's XMLescape (& < > ")
// used by Node.__str__ for what Gajim encrypts. We also escape CR there,
// which XMLescape does not: a raw CR would reach the peer as LF (XML
// end-of-line handling), and any XML parser reads &#xD; back as CR.
type gajimEsc int

const (
	gajimText gajimEsc = iota // c14n text: & < > \r
	gajimAttr                 // c14n attribute: & < " \t \n \r
	gajimStr                  // Node.__str__ text and attributes: & < > " (and CR)
)

func gajimEscape(dst []byte, s string, mode gajimEsc) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		var rep string
		switch c {
		case '&':
			rep = "&amp;"
		case '<':
			rep = "&lt;"
		case '>':
			if mode != gajimAttr {
				rep = "&gt;"
			}
		case '"':
			if mode != gajimText {
				rep = "&quot;"
			}
		case '\r':
			rep = "&#xD;"
		case '\t':
			if mode == gajimAttr {
				rep = "&#x9;"
			}
		case '\n':
			if mode == gajimAttr {
				rep = "&#xA;"
			}
		}
		if rep == "" {
			dst = append(dst, c)
		} else {
			dst = append(dst, rep...)
		}
	}
	return dst
}

// nbxmppNode splits an element's nodes the way nbxmpp's NodeBuilder stores
// them: the element children ("kids") and, apart from them, the runs of
// character data ("data"), each run a maximal sequence of text between two
// element boundaries, empty runs not stored. Both serializers of nbxmpp
// then write data[i] before kid i and data[len(kids)] after the last kid,
// so text keeps its position only when every gap between children holds
// text or none does (gajim-compat.md "Form hashing").
func nbxmppNode(el *xmltree.Element) (kids []*xmltree.Element, data []string) {
	var run strings.Builder
	for _, n := range el.Nodes {
		if n.Element != nil {
			if run.Len() > 0 {
				data = append(data, run.String())
				run.Reset()
			}
			kids = append(kids, n.Element)
			continue
		}
		run.WriteString(n.Text)
	}
	if run.Len() > 0 {
		data = append(data, run.String())
	}
	return kids, data
}

// xmlNS is the namespace bound to the xml: prefix.
const xmlNS = "http://www.w3.org/XML/1998/namespace"

// gajimAttrName is an attribute's key in nbxmpp: "prefix:local" for the
// xml: namespace, the local name otherwise.
func gajimAttrName(a xml.Attr) string {
	if a.Name.Space == xmlNS || a.Name.Space == "xml" {
		return "xml:" + a.Name.Local
	}
	return a.Name.Local
}

// appendGajimC14N is nbxmpp's c14n(node): "<name", xmlns="ns" when the
// namespace differs from the parent's (written as is), the attributes
// sorted by name, double-quoted, then data and children interleaved as
// nbxmppNode describes, and "<name ... />" for an element with neither.
// Namespace declarations are not attributes there and are skipped.
func appendGajimC14N(dst []byte, el *xmltree.Element, parentNS string, depth int) []byte {
	ns := el.Name.Space
	if ns == "" {
		ns = parentNS
	}
	dst = append(dst, '<')
	dst = append(dst, el.Name.Local...)
	if ns != "" && ns != parentNS {
		dst = append(dst, ` xmlns="`...)
		dst = append(dst, ns...)
		dst = append(dst, '"')
	}
	type attr struct{ name, value string }
	attrs := make([]attr, 0, len(el.Attr))
	for _, a := range el.Attr {
		if isNSDecl(a) {
			continue
		}
		attrs = append(attrs, attr{gajimAttrName(a), a.Value})
	}
	slices.SortStableFunc(attrs, func(a, b attr) int { return cmp.Compare(a.name, b.name) })
	for _, a := range attrs {
		dst = append(dst, ' ')
		dst = append(dst, a.name...)
		dst = append(dst, '=', '"')
		dst = gajimEscape(dst, a.value, gajimAttr)
		dst = append(dst, '"')
	}
	kids, data := nbxmppNode(el)
	if len(kids) == 0 && len(data) == 0 {
		return append(dst, " />"...)
	}
	dst = append(dst, '>')
	for i, k := range kids {
		if i < len(data) {
			dst = gajimEscape(dst, data[i], gajimText)
		}
		if depth < maxTreeDepth {
			dst = appendGajimC14N(dst, k, ns, depth+1)
		}
	}
	if len(kids) < len(data) {
		dst = gajimEscape(dst, data[len(kids)], gajimText)
	}
	dst = append(dst, '<', '/')
	dst = append(dst, el.Name.Local...)
	return append(dst, '>')
}

// gajimNormalizeContent is NormalizeContent under NormGajim: the c14n of
// each element child of the form, in received order, relative to the
// form's namespace. Character data directly inside the form is not
// hashed (Gajim hashes form.getChildren() only); inside the fields it is.
func gajimNormalizeContent(x *xmltree.Element, exclude []string) []byte {
	var out []byte
	for _, n := range x.Nodes {
		c := n.Element
		if c == nil {
			continue
		}
		if len(exclude) > 0 {
			if v, ok := c.AttrValue("var"); ok && slices.Contains(exclude, v) {
				continue
			}
		}
		out = appendGajimC14N(out, c, x.Name.Space, 0)
	}
	return out
}

// appendGajimElement is nbxmpp's Node.__str__ for what Gajim encrypts:
// xmlns when the namespace differs from the parent's, attributes in
// document order, & < > " escaped in text and attributes, data and children
// interleaved as nbxmppNode describes, "<name ... />" when empty. Attributes
// in namespaces other than xml: get declared prefixes, so that the output
// is namespace-well-formed for any input (nbxmpp would write its own
// prefix).
func appendGajimElement(dst []byte, el *xmltree.Element, parentNS string) []byte {
	ns := el.Name.Space
	if ns == "" {
		ns = parentNS
	}
	dst = append(dst, '<')
	dst = append(dst, el.Name.Local...)
	if ns != parentNS {
		dst = append(dst, ` xmlns="`...)
		dst = gajimEscape(dst, ns, gajimStr)
		dst = append(dst, '"')
	}
	prefixes := 0
	for _, a := range el.Attr {
		if isNSDecl(a) {
			continue
		}
		dst = append(dst, ' ')
		switch a.Name.Space {
		case "", xmlNS, "xml":
			dst = append(dst, gajimAttrName(a)...)
		default:
			prefixes++
			p := "ns" + strconv.Itoa(prefixes)
			dst = append(dst, "xmlns:"...)
			dst = append(dst, p...)
			dst = append(dst, `="`...)
			dst = gajimEscape(dst, a.Name.Space, gajimStr)
			dst = append(dst, `" `...)
			dst = append(dst, p...)
			dst = append(dst, ':')
			dst = append(dst, a.Name.Local...)
		}
		dst = append(dst, `="`...)
		dst = gajimEscape(dst, a.Value, gajimStr)
		dst = append(dst, '"')
	}
	kids, data := nbxmppNode(el)
	if len(kids) == 0 && len(data) == 0 {
		return append(dst, " />"...)
	}
	dst = append(dst, '>')
	for i, k := range kids {
		if i < len(data) {
			dst = gajimEscape(dst, data[i], gajimStr)
		}
		dst = appendGajimElement(dst, k, ns)
	}
	if len(kids) < len(data) {
		dst = gajimEscape(dst, data[len(kids)], gajimStr)
	}
	dst = append(dst, '<', '/')
	dst = append(dst, el.Name.Local...)
	return append(dst, '>')
}
