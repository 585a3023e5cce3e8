package crypt

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"strconv"

	"github.com/esn-project/esn/pkg/xmltree"
)

const (
	cOpen  = `<c xmlns="` + NS + `">`
	cClose = `</c>`
)

// sealSlack is what AppendSeal reserves beyond the Base64 of the plaintext
// and the <key/>: the stanza head, its clear children and the rest of the
// <c/> usually fit.
const sealSlack = 512

// AppendSeal encrypts one outgoing stanza ([XEP-0200] §6 and §7) and
// appends its serialized XML to dst.
//
// The stanza's own tag and attributes, and the children the suite lists as
// clear text (<thread/>, <error/>, <amp/>, server hints), stay in the clear.
// Every other child is serialized, in order, as a fragment in the
// jabber:client namespace context, encrypted in CTR mode from the send
// counter, and replaced by one
//
//	<c xmlns='http://www.xmpp.org/extensions/xep-0200.html#ns'>
//	  <data/> <key/> <new/> <old/>* <mac/>
//	</c>
//
// at the position of the first encrypted child (esession-core.md D-20), with
// mac = HMAC(HASH, KM, m_content | I2B(C before)). A stanza with nothing to
// encrypt still gets a <c/> (with no <data/>) and consumes one counter value.
//
// A re-key queued by [Stream.Rekey] (or due to the block budget) is sent
// here, under the old keys, and the send keys switch afterwards. <new/> is
// added when <key/>s were received since the last send.
//
// On error nothing is consumed and dst is returned unchanged.
func (s *Stream) AppendSeal(dst []byte, stanza *xmltree.Element) ([]byte, error) {
	if s.closed || s.sendClosed {
		return dst, ErrClosed
	}
	if stanza == nil {
		return dst, fmt.Errorf("crypt: nil stanza")
	}
	// 1. m: the encryptable children, serialized.
	plain := s.plain[:0]
	first := -1
	clearAfter := false // a clear child follows the first encrypted one
	for i, n := range stanza.Nodes {
		el := n.Element
		if el == nil {
			continue // text directly in a stanza is insignificant
		}
		if el.Name.Local == "c" && el.Name.Space == NS {
			return dst, s.dropPlain(plain, fmt.Errorf("crypt: stanza already carries an encrypted <c/>"))
		}
		if s.suite.isClear(el.Name.Space, el.Name.Local) {
			clearAfter = clearAfter || first >= 0
			continue
		}
		if err := checkTree(el, 0); err != nil {
			return dst, s.dropPlain(plain, err)
		}
		if first < 0 {
			first = i
		}
		if s.suite.Plain == PlainGajim {
			plain = appendGajimElement(plain, el, NSClient) // gajim.go
		} else {
			plain = appendElement(plain, el, NSClient)
		}
	}
	if len(plain) > 0 && s.suite.Padding == PadSpaces16 {
		for len(plain)%BlockSize != 0 {
			plain = append(plain, ' ')
		}
	}
	s.plain = plain

	// Budget and automatic re-key ([XEP-0200] §11.4).
	blocks := uint64(1)
	if len(plain) > 0 && !s.suite.Cipher.IsNone() {
		blocks = Blocks(len(plain))
	}
	if s.pending == nil && s.blocksSinceKex+blocks > s.budget-s.budget/4 && s.rekeyCheck() == nil {
		if err := s.Rekey(); err != nil {
			return dst, s.dropPlain(plain, err)
		}
	}
	if s.blocksSinceKex+blocks > s.budget {
		return dst, s.dropPlain(plain, ErrKeyExhausted)
	}

	// 2. The stanza head and the clear children before the <c/>, in a
	// buffer grown once for what follows (the Base64 of the plaintext,
	// the <key/>, and room for the head and the rest).
	need := base64.StdEncoding.EncodedLen(len(plain)) + sealSlack
	if s.pending != nil {
		need += len(s.pending.keyB64)
	}
	out := grow(dst, need)
	stanzaNS := stanza.Name.Space
	out = appendStartTag(out, stanza)
	for i, n := range stanza.Nodes {
		if i == first {
			break
		}
		if n.Element != nil {
			out = appendElement(out, n.Element, stanzaNS)
		}
	}

	// 3. The <c/> element.
	before := s.sendCtr
	out = s.appendC(out, plain, before)

	// 4. The clear children after the <c/>, and the end tag.
	if clearAfter {
		for _, n := range stanza.Nodes[first+1:] {
			if n.Element != nil && s.suite.isClear(n.Element.Name.Space, n.Element.Name.Local) {
				out = appendElement(out, n.Element, stanzaNS)
			}
		}
	}
	if s.suite.Notice != "" {
		out = s.suite.appendNotice(out) // gajim.go
	}
	out = append(out, "</"...)
	out = append(out, stanza.Name.Local...)
	out = append(out, '>')

	// 5. Commit the state.
	s.sendCtr = before.Add(blocks)
	s.blocksSinceKex += blocks
	s.stanzasSinceKex++
	s.keysRecvSinceSend = 0
	for _, k := range s.publishable {
		k.Erase()
	}
	s.publishable = s.publishable[:0]
	if p := s.pending; p != nil {
		s.pending = nil
		old := s.send
		s.send = p.send
		old.kc.Erase()
		p.set.seq = s.nextSeq
		p.set.added = s.now()
		s.nextSeq++
		s.recv = append(s.recv, p.set)
		s.retireSendKM(old.km, p.set.seq)
		s.stanzasSinceKex, s.blocksSinceKex = 0, 0
	}
	return out, nil
}

// dropPlain erases the plaintext serialized so far when AppendSeal fails,
// so that no message text stays behind in the reused buffer, and returns
// err.
func (s *Stream) dropPlain(plain []byte, err error) error {
	clear(plain)
	s.plain = plain[:0]
	return err
}

// appendC encrypts plain in place and appends the <c/> element: m_content
// (data, key, new, old*) and then mac = HMAC(HASH, KM_s, m_content |
// I2B(C_before)) ([XEP-0200] §6 steps 3–6).
func (s *Stream) appendC(out, plain []byte, before Counter) []byte {
	out = append(out, cOpen...)
	mStart := len(out)
	if len(plain) > 0 {
		s.send.xorCTR(before.Add(s.suite.CTRStart), plain, &s.ivBuf)
		out = append(out, "<data>"...)
		out = appendBase64(out, plain)
		out = append(out, "</data>"...)
		clear(plain)
	}
	if s.pending != nil {
		out = append(out, "<key>"...)
		out = append(out, s.pending.keyB64...)
		out = append(out, "</key>"...)
	}
	if s.keysRecvSinceSend > 0 {
		out = append(out, "<new>"...)
		out = strconv.AppendInt(out, int64(s.keysRecvSinceSend), 10)
		out = append(out, "</new>"...)
	}
	for _, k := range s.publishable {
		out = append(out, "<old>"...)
		out = appendBase64(out, k.b)
		out = append(out, "</old>"...)
	}
	mac := s.send.mac
	mac.Reset()
	mac.Write(out[mStart:])
	mac.Write(s.suite.macCounter()[0].appendTo(s.ctrBuf[:0], before))
	sum := mac.Sum(s.macBuf[:0])
	out = append(out, "<mac>"...)
	out = appendBase64(out, sum)
	out = append(out, "</mac>"...)
	return append(out, cClose...)
}

// Seal is [Stream.AppendSeal] returning the encrypted stanza as an element,
// for transports that send *xmltree.Element values.
func (s *Stream) Seal(stanza *xmltree.Element) (*xmltree.Element, error) {
	_, el, err := s.AppendSealElement(nil, stanza)
	return el, err
}

// AppendSealElement is [Stream.AppendSeal] that also returns the encrypted
// stanza as an element: the stanza the appended bytes serialize, built
// from the same values rather than parsed back from the bytes. Callers
// that can write bytes send those (no second serialization); the element
// serves everything that works on trees. Its clear-text children are the
// stanza's own elements (shared, not copied) unless they leave their
// namespace to be inherited, which the element states explicitly, as a
// parser would.
func (s *Stream) AppendSealElement(dst []byte, stanza *xmltree.Element) ([]byte, *xmltree.Element, error) {
	start := len(dst)
	out, err := s.AppendSeal(dst, stanza)
	if err != nil {
		return out, nil, err
	}
	el, err := s.sealedTree(stanza, out[start:])
	if err != nil {
		return out, nil, err
	}
	return out, el, nil
}

// sealedTree builds the element of a stanza AppendSeal has just written to
// b, mirroring its layout: the clear children before the first encrypted
// one, the <c/>, the clear children after it, the suite's notice.
func (s *Stream) sealedTree(stanza *xmltree.Element, b []byte) (*xmltree.Element, error) {
	c, err := parseOwnC(b)
	if err != nil {
		return nil, fmt.Errorf("crypt: internal error: re-reading our own <c/>: %w", err)
	}
	ns := stanza.Name.Space
	head := &xmltree.Element{Name: stanza.Name, Attr: make([]xml.Attr, 0, len(stanza.Attr))}
	for _, a := range stanza.Attr {
		if !isNSDecl(a) {
			head.Attr = append(head.Attr, a)
		}
	}
	first, kids := -1, 2 // the <c/> and the notice
	for i, n := range stanza.Nodes {
		if n.Element == nil {
			continue
		}
		kids++
		if first < 0 && !s.suite.isClear(n.Element.Name.Space, n.Element.Name.Local) {
			first = i
		}
	}
	head.Nodes = make([]xmltree.Node, 0, kids)
	for i, n := range stanza.Nodes {
		if i == first {
			break
		}
		if n.Element != nil {
			head.AddChild(inheritNS(n.Element, ns))
		}
	}
	head.AddChild(c)
	if first >= 0 {
		for _, n := range stanza.Nodes[first+1:] {
			if n.Element != nil && s.suite.isClear(n.Element.Name.Space, n.Element.Name.Local) {
				head.AddChild(inheritNS(n.Element, ns))
			}
		}
	}
	if s.suite.Notice != "" {
		head.AddChild(xmltree.New(ns, "body").AddText(s.suite.Notice))
	}
	return head, nil
}

// parseOwnC reads back the <c/> that appendC wrote into b: its children
// hold Base64 or digits only, so each is "<name>text</name>".
func parseOwnC(b []byte) (*xmltree.Element, error) {
	i := bytes.Index(b, []byte(cOpen))
	if i < 0 {
		return nil, errors.New("no <c/>")
	}
	rest := b[i+len(cOpen):]
	c := &xmltree.Element{Name: xml.Name{Space: NS, Local: "c"}, Nodes: make([]xmltree.Node, 0, 4)}
	for !bytes.HasPrefix(rest, []byte(cClose)) {
		if len(rest) < 2 || rest[0] != '<' {
			return nil, errors.New("unexpected content")
		}
		gt := bytes.IndexByte(rest, '>')
		if gt < 0 {
			return nil, errors.New("unterminated tag")
		}
		name := rest[1:gt]
		rest = rest[gt+1:]
		lt := bytes.IndexByte(rest, '<')
		if lt < 0 || !bytes.HasPrefix(rest[lt:], append(append([]byte("</"), name...), '>')) {
			return nil, fmt.Errorf("<%s> not closed", name)
		}
		child := &xmltree.Element{Name: xml.Name{Space: NS, Local: string(name)}}
		if lt > 0 {
			child.Nodes = []xmltree.Node{{Text: string(rest[:lt])}}
		}
		c.Nodes = append(c.Nodes, xmltree.Node{Element: child})
		rest = rest[lt+len(name)+3:]
	}
	return c, nil
}

// inheritNS returns el with every empty namespace (inherit the parent's,
// for our serializer) replaced by the namespace it inherits, as a parser
// reports it: el itself when nothing needs replacing, otherwise a copy of
// the elements that change.
func inheritNS(el *xmltree.Element, parentNS string) *xmltree.Element {
	ns := el.Name.Space
	if ns == "" {
		ns = parentNS
	}
	var nodes []xmltree.Node
	for i, n := range el.Nodes {
		if n.Element == nil {
			continue
		}
		if c := inheritNS(n.Element, ns); c != n.Element {
			if nodes == nil {
				nodes = append([]xmltree.Node(nil), el.Nodes...)
			}
			nodes[i].Element = c
		}
	}
	if ns == el.Name.Space && nodes == nil {
		return el
	}
	cp := *el
	cp.Name.Space = ns
	if nodes != nil {
		cp.Nodes = nodes
	}
	return &cp
}

// appendStartTag writes the stanza's start tag with its namespace and
// attributes.
func appendStartTag(dst []byte, el *xmltree.Element) []byte {
	dst, _ = appendOpen(dst, el, "")
	return append(dst, '>')
}

// maxTreeDepth bounds the nesting of what we serialize and accept.
const maxTreeDepth = 32

// checkTree verifies that an element we are about to encrypt serializes to
// well-formed XML: legal characters in text and attribute values, bounded
// depth.
func checkTree(el *xmltree.Element, depth int) error {
	if depth > maxTreeDepth {
		return fmt.Errorf("crypt: stanza nested deeper than %d", maxTreeDepth)
	}
	if el.Name.Local == "" {
		return fmt.Errorf("crypt: element without a name")
	}
	for _, a := range el.Attr {
		if !validText(a.Value) {
			return fmt.Errorf("crypt: attribute %q holds characters XML cannot carry", a.Name.Local)
		}
	}
	for _, n := range el.Nodes {
		if n.Element != nil {
			if err := checkTree(n.Element, depth+1); err != nil {
				return err
			}
		} else if !validText(n.Text) {
			return fmt.Errorf("crypt: <%s> holds characters XML cannot carry", el.Name.Local)
		}
	}
	return nil
}
