package transport

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"io"

	"github.com/esn-project/esn/pkg/xmltree"
)

// nsClient is the content namespace of client streams (RFC 6120 §4.8.3).
const nsClient = "jabber:client"

// elementTokens returns the tokens of el for mellium's encoder. Namespace
// declarations in Attr are dropped (the encoder declares namespaces from
// element names), an element in its parent's namespace is written without a
// declaration, and attribute slices are copied because mellium's encoder
// filters them in place.
func elementTokens(el *xmltree.Element, parentNS string) xml.TokenReader {
	var toks []xml.Token
	appendTokens(&toks, el, parentNS)
	return &tokenSlice{toks: toks}
}

func appendTokens(toks *[]xml.Token, el *xmltree.Element, parentNS string) {
	name := el.Name
	ns := name.Space
	if ns == "" {
		ns = parentNS
	}
	if ns == parentNS {
		name.Space = ""
	}
	attrs := make([]xml.Attr, 0, len(el.Attr))
	for _, a := range el.Attr {
		if a.Name.Space == "xmlns" || (a.Name.Space == "" && a.Name.Local == "xmlns") {
			continue
		}
		attrs = append(attrs, a)
	}
	start := xml.StartElement{Name: name, Attr: attrs}
	*toks = append(*toks, start)
	for _, n := range el.Nodes {
		if n.Element != nil {
			appendTokens(toks, n.Element, ns)
		} else if n.Text != "" {
			*toks = append(*toks, xml.CharData(n.Text))
		}
	}
	*toks = append(*toks, xml.EndElement{Name: name})
}

type tokenSlice struct {
	toks []xml.Token
	i    int
}

func (s *tokenSlice) Token() (xml.Token, error) {
	if s.i >= len(s.toks) {
		return nil, io.EOF
	}
	t := s.toks[s.i]
	s.i++
	return t, nil
}

// shallowCopy returns a copy of el whose attributes may be changed without
// touching el; the children are shared.
func shallowCopy(el *xmltree.Element) *xmltree.Element {
	c := *el
	c.Attr = append([]xml.Attr(nil), el.Attr...)
	return &c
}

// newID returns a random stanza id (RFC 6120 §8.1.3): 96 bits, hex.
func newID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// iq builds an IQ stanza of the given type, addressed to to ("" = our own
// account), carrying payload.
func iq(typ, to string, payload *xmltree.Element) *xmltree.Element {
	el := xmltree.New(nsClient, "iq")
	el.SetAttr("type", typ)
	if to != "" {
		el.SetAttr("to", to)
	}
	if payload != nil {
		el.AddChild(payload)
	}
	return el
}

func attr(local, value string) xml.Attr {
	return xml.Attr{Name: xml.Name{Local: local}, Value: value}
}
