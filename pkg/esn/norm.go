package esn

import (
	"slices"
	"strings"

	"github.com/esn-project/esn/pkg/xmltree"
)

// NormContent returns the XEP-0116 §"XML Normalization" of a data form's
// content: the concatenated serialization of the element children of x, in
// received order, skipping <field/> children whose var is listed in exclude
// (the identity and mac fields of M2/M3/M4). Character data between
// elements is dropped; attributes are sorted and double-quoted; namespace
// declarations and prefixes are removed (digest D-4, D-5).
func NormContent(x *xmltree.Element, exclude ...string) []byte {
	var b strings.Builder
	for _, n := range x.Nodes {
		c := n.Element
		if c == nil {
			continue
		}
		if c.Name.Local == "field" && len(exclude) > 0 && slices.Contains(exclude, c.Attribute("var")) {
			continue
		}
		normSer(&b, c)
	}
	return []byte(b.String())
}

// NormElement returns the normalization of el including its own start and
// end tags (NORM_EL of the digest, used for <KeyValue/>).
func NormElement(el *xmltree.Element) []byte {
	var b strings.Builder
	normSer(&b, el)
	return []byte(b.String())
}

func normSer(b *strings.Builder, el *xmltree.Element) {
	b.WriteByte('<')
	b.WriteString(el.Name.Local)
	type attr struct{ name, value string }
	attrs := make([]attr, 0, len(el.Attr))
	for _, a := range el.Attr {
		if a.Name.Space == "xmlns" || (a.Name.Space == "" && a.Name.Local == "xmlns") {
			continue
		}
		attrs = append(attrs, attr{a.Name.Local, a.Value})
	}
	slices.SortStableFunc(attrs, func(x, y attr) int { return strings.Compare(x.name, y.name) })
	for _, a := range attrs {
		b.WriteByte(' ')
		b.WriteString(a.name)
		b.WriteString(`="`)
		escAttr(b, a.value)
		b.WriteByte('"')
	}
	b.WriteByte('>')
	hasElem := false
	for _, n := range el.Nodes {
		if n.Element != nil {
			hasElem = true
			normSer(b, n.Element)
		}
	}
	if !hasElem {
		escText(b, el.Text())
	}
	b.WriteString("</")
	b.WriteString(el.Name.Local)
	b.WriteByte('>')
}

func escText(b *strings.Builder, s string) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '\r':
			b.WriteString("&#xD;")
		default:
			b.WriteByte(c)
		}
	}
}

func escAttr(b *strings.Builder, s string) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '"':
			b.WriteString("&quot;")
		case '\t':
			b.WriteString("&#x9;")
		case '\n':
			b.WriteString("&#xA;")
		case '\r':
			b.WriteString("&#xD;")
		default:
			b.WriteByte(c)
		}
	}
}
