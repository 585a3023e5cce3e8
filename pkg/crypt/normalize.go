package crypt

import (
	"cmp"
	"encoding/xml"
	"slices"

	"github.com/esn-project/esn/pkg/xmltree"
)

// NormalizeContent returns the normalized content of a data form, the bytes
// that mac_A, mac_B and the SAS cover (XEP-0116 §XML Normalization;
// esession-core.md §2.3, D-4, D-5): the serialization of the element
// children of x (the <x xmlns='jabber:x:data'/> element) in document order,
// with text between elements dropped. Children <field var='V'/> whose var is
// in exclude (e.g. "identity", "mac") are left out.
//
// Under [NormGajim] it is Gajim's c14n instead (gajim.go).
func (s *Suite) NormalizeContent(x *xmltree.Element, exclude ...string) []byte {
	if s.Normalization == NormGajim {
		return gajimNormalizeContent(x, exclude)
	}
	var out []byte
	for _, n := range x.Nodes {
		c := n.Element
		if c == nil {
			continue
		}
		if c.Name.Local == "field" && len(exclude) > 0 {
			if v, ok := c.AttrValue("var"); ok && slices.Contains(exclude, v) {
				continue
			}
		}
		out = appendNorm(out, c)
	}
	return out
}

// NormalizeElement returns NORM_EL(el): the same serialization of el
// including its own tags, used for <KeyValue/> in pubKey_X and fingerprints
// (esession-core.md §2.3).
func (s *Suite) NormalizeElement(el *xmltree.Element) []byte {
	if s.Normalization == NormGajim {
		return appendGajimC14N(nil, el, "", 0)
	}
	return appendNorm(nil, el)
}

// appendNorm is SER(el) of esession-core.md D-5.
func appendNorm(dst []byte, el *xmltree.Element) []byte {
	dst = append(dst, '<')
	dst = append(dst, el.Name.Local...)
	attrs := make([]xml.Attr, 0, len(el.Attr))
	for _, a := range el.Attr {
		if a.Name.Space == "xmlns" || (a.Name.Space == "" && a.Name.Local == "xmlns") {
			continue
		}
		attrs = append(attrs, a)
	}
	slices.SortStableFunc(attrs, func(a, b xml.Attr) int { return cmp.Compare(a.Name.Local, b.Name.Local) })
	for _, a := range attrs {
		dst = append(dst, ' ')
		dst = append(dst, a.Name.Local...)
		dst = append(dst, '=', '"')
		dst = appendEscapedAttr(dst, a.Value)
		dst = append(dst, '"')
	}
	dst = append(dst, '>')
	hasChild := false
	for _, n := range el.Nodes {
		if n.Element != nil {
			hasChild = true
			dst = appendNorm(dst, n.Element)
		}
	}
	if !hasChild {
		for _, n := range el.Nodes {
			dst = appendEscapedText(dst, n.Text)
		}
	}
	dst = append(dst, '<', '/')
	dst = append(dst, el.Name.Local...)
	return append(dst, '>')
}
