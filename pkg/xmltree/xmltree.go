package xmltree

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Element is one XML element with its attributes and its children in
// document order. Character data between child elements is kept, because
// some digests (XEP-0116 normalization drops it, Gajim's keeps it) depend on
// knowing exactly what was received.
type Element struct {
	Name  xml.Name
	Attr  []xml.Attr
	Nodes []Node
}

// Node is a child of an Element: either an element or character data.
// Exactly one of Element and Text is meaningful; Element != nil marks an
// element child.
type Node struct {
	Element *Element
	Text    string
}

// New returns an element with the given namespace and local name.
func New(space, local string, attr ...xml.Attr) *Element {
	return &Element{Name: xml.Name{Space: space, Local: local}, Attr: attr}
}

// AddChild appends child as the last node and returns e, for chaining.
func (e *Element) AddChild(child *Element) *Element {
	e.Nodes = append(e.Nodes, Node{Element: child})
	return e
}

// AddText appends character data as the last node and returns e.
func (e *Element) AddText(text string) *Element {
	e.Nodes = append(e.Nodes, Node{Text: text})
	return e
}

// SetAttr sets (or replaces) the attribute with the given local name and no
// namespace.
func (e *Element) SetAttr(local, value string) {
	for i, a := range e.Attr {
		if a.Name.Space == "" && a.Name.Local == local {
			e.Attr[i].Value = value
			return
		}
	}
	e.Attr = append(e.Attr, xml.Attr{Name: xml.Name{Local: local}, Value: value})
}

// AttrValue returns the value of the attribute with the given local name and
// no namespace, and whether it was present.
func (e *Element) AttrValue(local string) (string, bool) {
	for _, a := range e.Attr {
		if a.Name.Space == "" && a.Name.Local == local {
			return a.Value, true
		}
	}
	return "", false
}

// Attribute returns the value of the attribute with the given local name, or
// "" when it is absent.
func (e *Element) Attribute(local string) string {
	v, _ := e.AttrValue(local)
	return v
}

// Children returns the element children in document order.
func (e *Element) Children() []*Element {
	var out []*Element
	for _, n := range e.Nodes {
		if n.Element != nil {
			out = append(out, n.Element)
		}
	}
	return out
}

// Child returns the first element child with the given namespace and local
// name, or nil. An empty space matches any namespace.
func (e *Element) Child(space, local string) *Element {
	for _, n := range e.Nodes {
		c := n.Element
		if c != nil && c.Name.Local == local && (space == "" || c.Name.Space == space) {
			return c
		}
	}
	return nil
}

// Text returns the concatenated character data directly inside e (not that
// of its descendants).
func (e *Element) Text() string {
	// Most elements hold one text node: return it rather than a copy.
	texts, last := 0, ""
	for _, n := range e.Nodes {
		if n.Element == nil {
			texts++
			last = n.Text
		}
	}
	if texts <= 1 {
		return last
	}
	var b strings.Builder
	for _, n := range e.Nodes {
		if n.Element == nil {
			b.WriteString(n.Text)
		}
	}
	return b.String()
}

// ChildText returns the text of the first matching child, or "".
func (e *Element) ChildText(space, local string) string {
	if c := e.Child(space, local); c != nil {
		return c.Text()
	}
	return ""
}

// Limits bound what Decode accepts. A zero field takes the default.
type Limits struct {
	// MaxBytes bounds the total of element names, attribute names and
	// values and character data, a close proxy for the encoded size.
	MaxBytes int64
	// MaxDepth bounds element nesting, the root counting as 1.
	MaxDepth int
	// MaxNodes bounds the number of elements and text nodes in the tree.
	MaxNodes int
}

// Default limits: one stanza of up to 1 MiB, as the transport's default
// stanza bound.
const (
	DefaultMaxBytes = 1 << 20
	DefaultMaxDepth = 32
	DefaultMaxNodes = 16384
)

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	if l.MaxNodes <= 0 {
		l.MaxNodes = DefaultMaxNodes
	}
	return l
}

// ErrTooLarge is returned (wrapped) when input exceeds a Limits bound.
var ErrTooLarge = errors.New("xmltree: element exceeds size limit")

// Decode reads the element that start opens from r, up to and including its
// end element, within the given limits. Comments, processing instructions
// and directives are dropped.
func Decode(r xml.TokenReader, start xml.StartElement, lim Limits) (*Element, error) {
	lim = lim.withDefaults()
	d := decoder{r: r, lim: lim}
	return d.element(start, 1)
}

// Parse decodes the first element of an XML document held in data.
func Parse(data []byte, lim Limits) (*Element, error) {
	lim = lim.withDefaults()
	if int64(len(data)) > lim.MaxBytes*2 {
		return nil, fmt.Errorf("%w: %d bytes of input", ErrTooLarge, len(data))
	}
	dec := xml.NewDecoder(strings.NewReader(string(data)))
	for {
		tok, err := dec.Token()
		if err != nil {
			if err == io.EOF {
				return nil, errors.New("xmltree: no element in input")
			}
			return nil, fmt.Errorf("xmltree: %w", err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			return Decode(dec, se, lim)
		}
	}
}

type decoder struct {
	r     xml.TokenReader
	lim   Limits
	bytes int64
	nodes int
}

func (d *decoder) count(n int) error {
	d.bytes += int64(n)
	d.nodes++
	if d.bytes > d.lim.MaxBytes {
		return fmt.Errorf("%w: more than %d bytes", ErrTooLarge, d.lim.MaxBytes)
	}
	if d.nodes > d.lim.MaxNodes {
		return fmt.Errorf("%w: more than %d nodes", ErrTooLarge, d.lim.MaxNodes)
	}
	return nil
}

func (d *decoder) element(start xml.StartElement, depth int) (*Element, error) {
	if depth > d.lim.MaxDepth {
		return nil, fmt.Errorf("%w: nested deeper than %d", ErrTooLarge, d.lim.MaxDepth)
	}
	// Namespaces are not counted: an element inherits its parent's, so
	// counting them would charge bytes that never crossed the wire.
	size := len(start.Name.Local)
	attrs := make([]xml.Attr, 0, len(start.Attr))
	for _, a := range start.Attr {
		size += len(a.Name.Local) + len(a.Value)
		attrs = append(attrs, a)
	}
	if err := d.count(size); err != nil {
		return nil, err
	}
	el := &Element{Name: start.Name, Attr: attrs}
	for {
		tok, err := d.r.Token()
		if err != nil {
			if err == io.EOF {
				return nil, fmt.Errorf("xmltree: unexpected end of input inside <%s>", start.Name.Local)
			}
			return nil, fmt.Errorf("xmltree: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			child, err := d.element(t.Copy(), depth+1)
			if err != nil {
				return nil, err
			}
			el.Nodes = append(el.Nodes, Node{Element: child})
		case xml.EndElement:
			return el, nil
		case xml.CharData:
			if err := d.count(len(t)); err != nil {
				return nil, err
			}
			// Merge adjacent text (CDATA sections arrive as separate tokens).
			if n := len(el.Nodes); n > 0 && el.Nodes[n-1].Element == nil {
				el.Nodes[n-1].Text += string(t)
			} else {
				el.Nodes = append(el.Nodes, Node{Text: string(t)})
			}
		}
	}
}

// TokenReader returns the element as a stream of tokens, suitable for
// xml.Encoder or mellium's xmlstream.
func (e *Element) TokenReader() xml.TokenReader {
	var toks []xml.Token
	e.appendTokens(&toks)
	return &sliceReader{toks: toks}
}

func (e *Element) appendTokens(toks *[]xml.Token) {
	*toks = append(*toks, xml.StartElement{Name: e.Name, Attr: e.Attr})
	for _, n := range e.Nodes {
		if n.Element != nil {
			n.Element.appendTokens(toks)
		} else {
			*toks = append(*toks, xml.CharData(n.Text))
		}
	}
	*toks = append(*toks, xml.EndElement{Name: e.Name})
}

type sliceReader struct {
	toks []xml.Token
	i    int
}

func (s *sliceReader) Token() (xml.Token, error) {
	if s.i >= len(s.toks) {
		return nil, io.EOF
	}
	t := s.toks[s.i]
	s.i++
	return t, nil
}

// WriteTo writes e as XML. Namespaces are declared with xmlns attributes
// only where an element's namespace differs from its parent's, so the
// output is compact and stable.
func (e *Element) WriteTo(w io.Writer) (int64, error) {
	cw := &countWriter{w: w}
	e.write(cw, "")
	return cw.n, cw.err
}

// String returns the XML serialization of e.
func (e *Element) String() string {
	var b strings.Builder
	e.WriteTo(&b)
	return b.String()
}

func (e *Element) write(w *countWriter, parentNS string) {
	w.str("<")
	w.str(e.Name.Local)
	if e.Name.Space != parentNS {
		w.str(` xmlns="`)
		escapeAttr(w, e.Name.Space)
		w.str(`"`)
	}
	for _, a := range e.Attr {
		if a.Name.Local == "xmlns" && a.Name.Space == "" {
			continue // we declare namespaces ourselves
		}
		if a.Name.Space == "xmlns" {
			continue
		}
		w.str(" ")
		if a.Name.Space == "http://www.w3.org/XML/1998/namespace" || a.Name.Space == "xml" {
			w.str("xml:")
		}
		w.str(a.Name.Local)
		w.str(`="`)
		escapeAttr(w, a.Value)
		w.str(`"`)
	}
	if len(e.Nodes) == 0 {
		w.str("/>")
		return
	}
	w.str(">")
	for _, n := range e.Nodes {
		if n.Element != nil {
			n.Element.write(w, e.Name.Space)
		} else {
			escapeText(w, n.Text)
		}
	}
	w.str("</")
	w.str(e.Name.Local)
	w.str(">")
}

type countWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countWriter) str(s string) {
	if c.err != nil {
		return
	}
	n, err := io.WriteString(c.w, s)
	c.n += int64(n)
	c.err = err
}

func escapeText(w *countWriter, s string) {
	last := 0
	for i := 0; i < len(s); i++ {
		var esc string
		switch s[i] {
		case '&':
			esc = "&amp;"
		case '<':
			esc = "&lt;"
		case '>':
			esc = "&gt;"
		case '\r':
			esc = "&#xD;"
		default:
			continue
		}
		w.str(s[last:i])
		w.str(esc)
		last = i + 1
	}
	w.str(s[last:])
}

func escapeAttr(w *countWriter, s string) {
	last := 0
	for i := 0; i < len(s); i++ {
		var esc string
		switch s[i] {
		case '&':
			esc = "&amp;"
		case '<':
			esc = "&lt;"
		case '"':
			esc = "&quot;"
		case '\t':
			esc = "&#x9;"
		case '\n':
			esc = "&#xA;"
		case '\r':
			esc = "&#xD;"
		default:
			continue
		}
		w.str(s[last:i])
		w.str(esc)
		last = i + 1
	}
	w.str(s[last:])
}
