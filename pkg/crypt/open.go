package crypt

import (
	"crypto/subtle"
	"encoding/base64"
	"encoding/xml"
	"io"
	"strings"

	"github.com/esn-project/esn/pkg/xmltree"
)

// Opened is what [Stream.Open] learned from one authentic stanza.
type Opened struct {
	// Children are the decrypted stanza children, parsed in the
	// jabber:client context (D-26); nil when the stanza had no <data/>.
	Children []*xmltree.Element
	// Rekeyed reports that the stanza carried a <key/> and that the keys
	// have been switched ([XEP-0200] §9.3).
	Rekeyed bool
	// Acknowledged is the <new/> value: how many of our re-keys the peer
	// had received when it sent the stanza.
	Acknowledged int
}

// fragment wrapper: the plaintext is parsed inside it so that it inherits
// the jabber:client default namespace (esession-core.md D-26).
const (
	fragOpen  = `<fragment xmlns="` + NSClient + `">`
	fragClose = `</fragment>`
)

// cParts locates the values of one received <c/> inside s.scratch, which
// holds m_content.
type cParts struct {
	data, key, new [2]int // [start, end) of the whitespace-free text; start -1 = absent
	mac            string
	nOld           int
}

// Open authenticates and decrypts one received <c/> element, as the
// transport parsed it, in the strict order of [XEP-0200] §8
// (esession-core.md §7.4):
//
//  0. parse the <c/> with bounds: exactly one <mac/>, at most one <data/>,
//     <key/> and <new/>, a bounded number of <old/>, nothing else, no
//     attributes; strict Base64; a non-empty <data/> within MaxData;
//  1. select the receive set with <new/>;
//  2. compute the MAC over m_content | I2B(C) and compare it in constant
//     time, before anything is decrypted;
//  3. destroy superseded receive sets, decrypt in CTR mode and advance the
//     counter by the blocks used (1 without <data/>);
//  4. parse the plaintext fragment with encoding/xml (no DTDs, bounded
//     depth), rejecting a nested XEP-0200 <c/> and top-level elements
//     that must stay in the clear;
//  5. accept a <key/> (re-key, [XEP-0200] §9.3). <old/> is ignored.
//
// Authentication failures return [ErrMAC] ([ErrReplay] for a recognised
// copy of an earlier stanza) and leave the stream unchanged. Every error
// means the session must be terminated.
func (s *Stream) Open(c *xmltree.Element) (Opened, error) {
	if s.closed {
		return Opened{}, ErrClosed
	}
	if c == nil || c.Name.Local != "c" || (c.Name.Space != NS && c.Name.Space != "") {
		return Opened{}, malformed("c", "not an XEP-0200 <c/> element")
	}
	parts, err := s.parseC(c)
	if err != nil {
		return Opened{}, err
	}
	var res Opened

	// 1. Select the receive set.
	k := 0
	if parts.new[0] >= 0 {
		k = parseNew(s.scratch[parts.new[0]:parts.new[1]])
		if k <= 0 || k > maxRecvSets {
			return Opened{}, malformed("new", "not a small positive integer")
		}
		res.Acknowledged = k
	}
	if s.observer != nil {
		k = 0 // an observer's caller sets the keys (observer.go)
	}
	s.expireSets()
	if k >= len(s.recv) {
		return Opened{}, protocolErr("<new/> selects a key set that does not exist")
	}
	set := s.recv[k]

	// Decode <mac/> and <data/> (parsing only; nothing is decrypted yet).
	var macBuf [64]byte
	var macText [128]byte
	if len(parts.mac) != base64.StdEncoding.EncodedLen(s.suite.Hash.size) || len(parts.mac) > len(macText) {
		return Opened{}, ErrMAC
	}
	nm, err := b64.Decode(macBuf[:], macText[:copy(macText[:], parts.mac)])
	if err != nil || nm != s.suite.Hash.size {
		return Opened{}, malformed("mac", "invalid Base64")
	}
	got := macBuf[:nm]
	dataLen := 0
	if parts.data[0] >= 0 {
		enc := s.scratch[parts.data[0]:parts.data[1]]
		if len(enc) == 0 {
			return Opened{}, malformed("data", "zero-length <data/>")
		}
		if len(enc) > base64.StdEncoding.EncodedLen(s.suite.maxData()) {
			return Opened{}, tooLarge("data", "decodes to more than the allowed plaintext size")
		}
		need := len(fragOpen) + b64.DecodedLen(len(enc)) + len(fragClose)
		s.plain = grow(s.plain[:0], need)[:need]
		copy(s.plain, fragOpen)
		n, err := b64.Decode(s.plain[len(fragOpen):], enc)
		if err != nil {
			return Opened{}, malformed("data", "invalid Base64")
		}
		if n == 0 {
			return Opened{}, malformed("data", "zero-length <data/>")
		}
		if n > s.suite.maxData() {
			return Opened{}, tooLarge("data", "decodes to more than the allowed plaintext size")
		}
		dataLen = n
	}
	if parts.key[0] >= 0 {
		if s.group == nil {
			// Checked after the MAC below; bound the length now.
			if parts.key[1]-parts.key[0] > 4096 {
				return Opened{}, tooLarge("key", "longer than any MODP value")
			}
		} else if parts.key[1]-parts.key[0] > base64.StdEncoding.EncodedLen(s.group.ByteLen()) {
			return Opened{}, tooLarge("key", "longer than p")
		}
	}

	// 2. The MAC, in constant time, before decrypting.
	if set.expired || !s.verifyMAC(set, got) {
		if s.isReplay(got) {
			return Opened{}, ErrReplay
		}
		return Opened{}, ErrMAC
	}

	// Authentic. A <key/> under a profile without re-keying terminates.
	if parts.key[0] >= 0 && s.rekeyFreq == NoRekey {
		return Opened{}, protocolErr("<key/> under a profile without re-keying")
	}

	// 3. Destroy the sets the peer has moved past, decrypt, count.
	if k > 0 {
		for _, old := range s.recv[:k] {
			if !old.expired {
				s.publish(old.km)
				old.kc.Erase()
			}
			old.dirKeys = dirKeys{}
			old.priv.Erase()
		}
		s.recv = append(s.recv[:0], s.recv[k:]...)
		clear(s.recv[len(s.recv):cap(s.recv)])
		set = s.recv[0]
	}
	s.releaseRetired(set.seq)
	blocks := uint64(1)
	if dataLen > 0 && set.block != nil {
		blocks = Blocks(dataLen)
		body := s.plain[len(fragOpen) : len(fragOpen)+dataLen]
		set.xorCTR(s.recvCtr.Add(s.suite.CTRStart), body, &s.ivBuf)
	}
	s.recvCtr = s.recvCtr.Add(blocks)
	s.blocksSinceKex += blocks
	s.stanzasSinceKex++
	s.rememberMAC(got)

	// 4. Parse the plaintext fragment.
	if dataLen > 0 {
		end := len(fragOpen) + dataLen
		s.plain = append(s.plain[:end], fragClose...)
		res.Children, err = s.parseFragment(s.plain)
		clear(s.plain)
		if err != nil {
			return Opened{}, err
		}
	}

	// 5. Re-key acceptance.
	if parts.key[0] >= 0 {
		if err := s.acceptRekey(string(s.scratch[parts.key[0]:parts.key[1]])); err != nil {
			return Opened{}, err
		}
		res.Rekeyed = true
	}
	return res, nil
}

func protocolErr(reason string) error {
	return &protocolError{reason}
}

type protocolError struct{ reason string }

func (e *protocolError) Error() string { return "crypt: protocol violation: " + e.reason }
func (e *protocolError) Unwrap() error { return ErrProtocol }

// verifyMAC computes b_mac = HMAC(HASH, KM_r, m_content | counter) under each
// accepted counter encoding and compares in constant time.
func (s *Stream) verifyMAC(set *recvSet, got []byte) bool {
	ok := 0
	for _, enc := range s.suite.macCounter() {
		m := set.mac
		m.Reset()
		m.Write(s.scratch)
		m.Write(enc.appendTo(s.ctrBuf[:0], s.recvCtr))
		want := m.Sum(s.macBuf[:0])
		ok |= subtle.ConstantTimeCompare(want, got)
	}
	return ok == 1
}

func (s *Stream) rememberMAC(mac []byte) {
	s.replay[s.replayAt] = append(s.replay[s.replayAt][:0], mac...)
	s.replayAt = (s.replayAt + 1) % len(s.replay)
}

func (s *Stream) isReplay(mac []byte) bool {
	hit := 0
	for _, r := range s.replay {
		if len(r) == len(mac) {
			hit |= subtle.ConstantTimeCompare(r, mac)
		}
	}
	return hit == 1
}

// releaseRetired makes own retired send MAC keys publishable once a stanza
// under a receive set at least as new as their re-key verified ([XEP-0200]
// §10: a re-key was sent and a stanza under the new key received).
func (s *Stream) releaseRetired(seq uint64) {
	kept := s.retired[:0]
	for _, r := range s.retired {
		if seq >= r.seq {
			s.publish(r.km)
		} else {
			kept = append(kept, r)
		}
	}
	clear(s.retired[len(kept):])
	s.retired = kept
}

// acceptRekey is [XEP-0200] §9.3 with the hardened range check: K = e'^y with
// y of the (now oldest) selected set; the peer keys of every set become the
// initiator keys; the send keys become the acceptor keys if only one set is
// stored.
func (s *Stream) acceptRekey(keyB64 string) error {
	if s.observer != nil {
		return s.observer.sawKey(keyB64)
	}
	pub, err := s.group.ParsePublic("key", keyB64)
	if err != nil {
		return err
	}
	base := s.recv[0]
	if base.priv == nil {
		return protocolErr("no private exponent for the selected key set")
	}
	z, err := base.priv.SharedSecret(pub)
	if err != nil {
		return err
	}
	defer z.Erase()
	s.rekeyHook.report(false, z)
	for _, set := range s.recv {
		if set.expired {
			continue
		}
		kc, km := s.suite.RekeyKeys(z, RekeyInitiator)
		nk, err := s.newDirKeys(kc, km)
		if err != nil {
			return err
		}
		s.publish(set.km)
		set.kc.Erase()
		set.dirKeys = nk
	}
	if len(s.recv) == 1 && !s.sendClosed {
		kc, km := s.suite.RekeyKeys(z, RekeyAcceptor)
		nk, err := s.newDirKeys(kc, km)
		if err != nil {
			return err
		}
		old := s.send
		s.send = nk
		old.kc.Erase()
		s.retireSendKM(old.km, s.recv[0].seq)
	}
	s.peerPub = pub
	s.keysRecvSinceSend++
	s.stanzasSinceKex, s.blocksSinceKex = 0, 0
	return nil
}

// parseNew reads the digits of <new/>; it returns -1 for anything else.
func parseNew(b []byte) int {
	if len(b) == 0 || len(b) > 3 {
		return -1
	}
	v := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return -1
		}
		v = v*10 + int(c-'0')
	}
	return v
}

func isXMLSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// parseC checks the <c/> schema and builds m_content (esession-core.md D-6)
// in s.scratch, recording where each value lies.
func (s *Stream) parseC(c *xmltree.Element) (cParts, error) {
	p := cParts{data: [2]int{-1, -1}, key: [2]int{-1, -1}, new: [2]int{-1, -1}}
	sc := s.scratch[:0]
	haveMAC := false
	// Raw text may carry whitespace (removed below); bound it anyway.
	maxRaw := 2*base64.StdEncoding.EncodedLen(s.suite.maxData()) + 4096
	for _, n := range c.Nodes {
		ch := n.Element
		if ch == nil {
			if !allSpace(n.Text) {
				return p, malformed("c", "text outside its children")
			}
			continue
		}
		if ch.Name.Space != NS && ch.Name.Space != "" {
			return p, malformed("c", "child in a foreign namespace")
		}
		for _, a := range ch.Attr {
			if !isNSDecl(a) {
				return p, malformed(ch.Name.Local, "attributes are not allowed")
			}
		}
		text, err := leafText(ch, maxRaw)
		if err != nil {
			return p, err
		}
		var slot *[2]int
		switch ch.Name.Local {
		case "mac":
			if haveMAC {
				return p, malformed("mac", "more than one <mac/>")
			}
			haveMAC = true
			if len(text) > 1024 {
				return p, tooLarge("mac", "longer than any MAC")
			}
			p.mac = stripSpaceString(text)
			continue
		case "data":
			slot = &p.data
		case "key":
			slot = &p.key
		case "new":
			slot = &p.new
		case "old":
			p.nOld++
			if p.nOld > maxOld {
				return p, tooLarge("old", "too many <old/> elements")
			}
			if len(text) > 1024 {
				return p, tooLarge("old", "longer than any MAC key")
			}
		default:
			return p, malformed("c", "unknown child element")
		}
		if slot != nil && slot[0] >= 0 {
			return p, malformed(ch.Name.Local, "more than one")
		}
		sc = append(sc, '<')
		sc = append(sc, ch.Name.Local...)
		sc = append(sc, '>')
		start := len(sc)
		sc = appendStripSpace(sc, text)
		if slot != nil {
			*slot = [2]int{start, len(sc)}
		}
		sc = append(sc, '<', '/')
		sc = append(sc, ch.Name.Local...)
		sc = append(sc, '>')
	}
	s.scratch = sc
	if !haveMAC {
		return p, malformed("c", "missing <mac/>")
	}
	return p, nil
}

// leafText returns the text of an element that must have no element
// children.
func leafText(el *xmltree.Element, maxLen int) (string, error) {
	switch len(el.Nodes) {
	case 0:
		return "", nil
	case 1:
		n := el.Nodes[0]
		if n.Element != nil {
			return "", malformed(el.Name.Local, "element children are not allowed")
		}
		if len(n.Text) > maxLen {
			return "", tooLarge(el.Name.Local, "longer than allowed")
		}
		return n.Text, nil
	}
	var b strings.Builder
	for _, n := range el.Nodes {
		if n.Element != nil {
			return "", malformed(el.Name.Local, "element children are not allowed")
		}
		if b.Len()+len(n.Text) > maxLen {
			return "", tooLarge(el.Name.Local, "longer than allowed")
		}
		b.WriteString(n.Text)
	}
	return b.String(), nil
}

func allSpace(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isXMLSpace(s[i]) {
			return false
		}
	}
	return true
}

func allSpaceBytes(b []byte) bool {
	for _, c := range b {
		if !isXMLSpace(c) {
			return false
		}
	}
	return true
}

func hasSpace(s string) bool {
	return strings.IndexByte(s, ' ') >= 0 || strings.IndexByte(s, '\n') >= 0 ||
		strings.IndexByte(s, '\r') >= 0 || strings.IndexByte(s, '\t') >= 0
}

// appendStripSpace appends s without XML whitespace (SP, TAB, CR, LF).
func appendStripSpace(dst []byte, s string) []byte {
	if !hasSpace(s) {
		return append(dst, s...)
	}
	for i := 0; i < len(s); i++ {
		if !isXMLSpace(s[i]) {
			dst = append(dst, s[i])
		}
	}
	return dst
}

func stripSpaceString(s string) string {
	if !hasSpace(s) {
		return s
	}
	return string(appendStripSpace(nil, s))
}

// maxFragmentNodes bounds the elements and text nodes of one plaintext.
const maxFragmentNodes = 4096

// parseFragment parses fragOpen + m + fragClose with encoding/xml into the
// top-level elements of m. The plaintext is authenticated but still comes
// from the peer, so it is parsed by the standard library only.
func (s *Stream) parseFragment(buf []byte) ([]*xmltree.Element, error) {
	s.rd.Reset(buf)
	dec := xml.NewDecoder(&s.rd)
	dec.Strict = true
	return s.buildFragment(dec)
}

// buildFragment builds the top-level elements of a fragment from its
// tokens, with the bounds and checks of the plaintext (esession-core.md
// §7.4 step 4).
func (s *Stream) buildFragment(toks xml.TokenReader) ([]*xmltree.Element, error) {
	var out []*xmltree.Element
	stack := s.stack[:0]
	defer func() { clear(stack); s.stack = stack[:0] }()
	depth, nodes := 0, 0
	closed := false
	for {
		tok, err := toks.Token()
		if err == io.EOF {
			if !closed {
				return nil, badFragment("unexpected end")
			}
			return out, nil
		}
		if err != nil {
			return nil, badFragment("not well-formed XML")
		}
		if closed {
			return nil, badFragment("content after the fragment")
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if depth == 1 {
				continue // the wrapper
			}
			if depth > maxTreeDepth {
				return nil, badFragment("nested too deeply")
			}
			if nodes++; nodes > maxFragmentNodes {
				return nil, badFragment("too many elements")
			}
			if t.Name.Space == NS && t.Name.Local == "c" {
				return nil, badFragment("nested XEP-0200 <c/>")
			}
			if depth == 2 && s.suite.isClear(t.Name.Space, t.Name.Local) {
				return nil, badFragment("element that must stay in the clear")
			}
			el := &xmltree.Element{Name: t.Name, Attr: t.Attr}
			if depth == 2 {
				out = append(out, el)
			} else {
				parent := stack[len(stack)-1]
				parent.Nodes = append(parent.Nodes, xmltree.Node{Element: el})
			}
			stack = append(stack, el)
		case xml.EndElement:
			depth--
			if depth == 0 {
				closed = true
				continue
			}
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if depth <= 1 {
				if !allSpaceBytes(t) {
					return nil, badFragment("text outside elements")
				}
				continue
			}
			parent := stack[len(stack)-1]
			if k := len(parent.Nodes); k > 0 && parent.Nodes[k-1].Element == nil {
				parent.Nodes[k-1].Text += string(t)
			} else {
				if nodes++; nodes > maxFragmentNodes {
					return nil, badFragment("too many nodes")
				}
				parent.Nodes = append(parent.Nodes, xmltree.Node{Text: string(t)})
			}
		case xml.Comment:
		default: // directives (DTDs) and processing instructions
			return nil, badFragment("DTD or processing instruction")
		}
	}
}

// IsEncrypted reports whether a stanza carries an XEP-0200 <c/> as an
// immediate child.
func IsEncrypted(stanza *xmltree.Element) bool {
	return stanza != nil && stanza.Child(NS, "c") != nil
}

// OpenStanza opens a whole received stanza: it checks the placement rules
// of [XEP-0200] §5 (exactly one <c/>, an immediate child; in a type='error'
// stanza a second one MAY sit in <error/>), opens the top-level <c/> and
// then the one in <error/> (esession-core.md D-19), and returns a new stanza
// with each <c/> replaced by its decrypted children. Clear-text children
// other than those the suite keeps in the clear (a plaintext <body/> notice,
// for instance) are dropped: they are not part of the secure session.
func (s *Stream) OpenStanza(stanza *xmltree.Element) (*xmltree.Element, Opened, error) {
	if stanza == nil {
		return nil, Opened{}, malformed("stanza", "nil")
	}
	var top, inErr *xmltree.Element
	var errEl *xmltree.Element
	for _, n := range stanza.Nodes {
		el := n.Element
		if el == nil {
			continue
		}
		if el.Name.Space == NS && el.Name.Local == "c" {
			if top != nil {
				return nil, Opened{}, malformed("c", "more than one <c/> in the stanza")
			}
			top = el
			continue
		}
		if el.Name.Local == "error" && stanza.Attribute("type") == "error" && errEl == nil {
			errEl = el
			for _, en := range el.Nodes {
				if e := en.Element; e != nil && e.Name.Space == NS && e.Name.Local == "c" {
					if inErr != nil {
						return nil, Opened{}, malformed("c", "more than one <c/> in <error/>")
					}
					inErr = e
				} else if e != nil && containsC(e, 0) {
					return nil, Opened{}, malformed("c", "<c/> nested below <error/>")
				}
			}
			continue
		}
		if containsC(el, 0) {
			return nil, Opened{}, malformed("c", "<c/> that is not an immediate child of the stanza")
		}
	}
	if top == nil {
		return nil, Opened{}, malformed("c", "stanza is not encrypted")
	}
	res, err := s.Open(top)
	if err != nil {
		return nil, Opened{}, err
	}
	out := &xmltree.Element{Name: stanza.Name, Attr: append([]xml.Attr(nil), stanza.Attr...)}
	for _, n := range stanza.Nodes {
		el := n.Element
		switch {
		case el == nil:
		case el == top:
			for _, c := range res.Children {
				out.AddChild(c)
			}
		case el == errEl:
			out.AddChild(el)
		case s.suite.isClear(el.Name.Space, el.Name.Local):
			out.AddChild(el)
		}
	}
	if inErr != nil {
		res2, err := s.Open(inErr)
		if err != nil {
			return nil, Opened{}, err
		}
		ne := &xmltree.Element{Name: errEl.Name, Attr: errEl.Attr}
		for _, en := range errEl.Nodes {
			if en.Element == inErr {
				for _, c := range res2.Children {
					ne.AddChild(c)
				}
			} else {
				ne.Nodes = append(ne.Nodes, en)
			}
		}
		for i, n := range out.Nodes {
			if n.Element == errEl {
				out.Nodes[i].Element = ne
			}
		}
		res.Rekeyed = res.Rekeyed || res2.Rekeyed
	}
	return out, res, nil
}

// containsC reports whether an XEP-0200 <c/> occurs at or below el.
func containsC(el *xmltree.Element, depth int) bool {
	if el.Name.Space == NS && el.Name.Local == "c" {
		return true
	}
	if depth > maxTreeDepth {
		return false
	}
	for _, n := range el.Nodes {
		if n.Element != nil && containsC(n.Element, depth+1) {
			return true
		}
	}
	return false
}
