package crypt

import (
	"encoding/xml"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/esn-project/esn/pkg/xmltree"
)

// This file serializes our own output (the plaintext fragment and the
// outgoing stanza) into a caller's []byte. Untrusted input is never parsed
// here: received data goes through encoding/xml.

const xmlNamespace = "http://www.w3.org/XML/1998/namespace"

// textSpecial and attrSpecial mark with 1 the bytes that need escaping,
// with the C14N choices of esession-core.md §2.3: text & < > CR; attributes
// & < " TAB LF CR. Numbers rather than bools let firstSpecial OR four
// lookups without a branch each.
var textSpecial, attrSpecial = func() (t, a [256]uint8) {
	for _, c := range "&<>\r" {
		t[c] = 1
	}
	for _, c := range "&<\"\t\n\r" {
		a[c] = 1
	}
	return
}()

func escapeFor(c byte) string {
	switch c {
	case '&':
		return "&amp;"
	case '<':
		return "&lt;"
	case '>':
		return "&gt;"
	case '"':
		return "&quot;"
	case '\t':
		return "&#x9;"
	case '\n':
		return "&#xA;"
	case '\r':
		return "&#xD;"
	}
	return string(c)
}

// firstTextSpecial finds the first byte of s that text escaping changes.
// Chat text rarely has any: a long text is searched for each of the four
// with the vectorized IndexByte, a short one (a thread ID, a subject) in one
// pass over the table, which costs less than four calls.
func firstTextSpecial(s string) int {
	if len(s) < 48 {
		return firstSpecial(s, &textSpecial)
	}
	first := -1
	for _, c := range [...]byte{'<', '&', '>', '\r'} {
		lim := s
		if first >= 0 {
			lim = s[:first]
		}
		if i := strings.IndexByte(lim, c); i >= 0 {
			first = i
		}
	}
	return first
}

// firstSpecial finds the first byte of s that special marks, or -1. It
// tests four bytes per branch: most values have no such byte.
func firstSpecial(s string, special *[256]uint8) int {
	i := 0
	for ; i+4 <= len(s); i += 4 {
		t := s[i : i+4]
		if special[t[0]]|special[t[1]]|special[t[2]]|special[t[3]] != 0 {
			break
		}
	}
	for ; i < len(s); i++ {
		if special[s[i]] != 0 {
			return i
		}
	}
	return -1
}

func appendEscapedText(dst []byte, s string) []byte {
	return appendEscapedFrom(dst, s, firstTextSpecial(s), &textSpecial)
}

func appendEscapedAttr(dst []byte, s string) []byte {
	return appendEscapedFrom(dst, s, firstSpecial(s, &attrSpecial), &attrSpecial)
}

// appendEscapedFrom appends s with the bytes special marks escaped; i is
// the first of them (-1: none), found by the caller's fastest search.
func appendEscapedFrom(dst []byte, s string, i int, special *[256]uint8) []byte {
	if i < 0 {
		return append(dst, s...)
	}
	dst = append(dst, s[:i]...)
	last := i
	for ; i < len(s); i++ {
		if special[s[i]] != 0 {
			dst = append(dst, s[last:i]...)
			dst = append(dst, escapeFor(s[i])...)
			last = i + 1
		}
	}
	return append(dst, s[last:]...)
}

// isNSDecl reports whether an attribute is a namespace declaration, which
// the writer replaces by its own.
func isNSDecl(a xml.Attr) bool {
	return a.Name.Space == "xmlns" || (a.Name.Space == "" && a.Name.Local == "xmlns")
}

// appendElement serializes el. An element whose namespace is empty or equal
// to parentNS inherits it; otherwise it declares xmlns. Namespaced
// attributes other than xml:* get generated prefixes declared on el.
func appendElement(dst []byte, el *xmltree.Element, parentNS string) []byte {
	dst, ns := appendOpen(dst, el, parentNS)
	if len(el.Nodes) == 0 {
		return append(dst, '/', '>')
	}
	dst = append(dst, '>')
	for _, n := range el.Nodes {
		if n.Element != nil {
			dst = appendElement(dst, n.Element, ns)
		} else {
			dst = appendEscapedText(dst, n.Text)
		}
	}
	dst = append(dst, '<', '/')
	dst = append(dst, el.Name.Local...)
	return append(dst, '>')
}

// appendOpen writes "<name" with the namespace declaration and attributes,
// without the closing '>', and returns the element's namespace.
func appendOpen(dst []byte, el *xmltree.Element, parentNS string) ([]byte, string) {
	ns := el.Name.Space
	if ns == "" {
		ns = parentNS
	}
	dst = append(dst, '<')
	dst = append(dst, el.Name.Local...)
	if ns != parentNS {
		dst = append(dst, ` xmlns="`...)
		dst = appendEscapedAttr(dst, ns)
		dst = append(dst, '"')
	}
	prefixes := 0
	for _, a := range el.Attr {
		if isNSDecl(a) {
			continue
		}
		dst = append(dst, ' ')
		switch a.Name.Space {
		case "":
		case xmlNamespace, "xml":
			dst = append(dst, "xml:"...)
		default:
			prefixes++
			p := "ns" + strconv.Itoa(prefixes)
			dst = append(dst, "xmlns:"...)
			dst = append(dst, p...)
			dst = append(dst, `="`...)
			dst = appendEscapedAttr(dst, a.Name.Space)
			dst = append(dst, `" `...)
			dst = append(dst, p...)
			dst = append(dst, ':')
		}
		dst = append(dst, a.Name.Local...)
		dst = append(dst, `="`...)
		dst = appendEscapedAttr(dst, a.Value)
		dst = append(dst, '"')
	}
	return dst, ns
}

// validText reports whether s consists of XML 1.0 characters only (#x9, #xA,
// #xD, #x20-#xD7FF, #xE000-#xFFFD, #x10000-#x10FFFF) in valid UTF-8, so that
// what we serialize parses at the peer. It tests 32 bytes at a time for
// control characters and non-ASCII bytes: a chat body is a long run of
// printable ASCII, and four independent words per step keep the loop short.
func validText(s string) bool {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	// A byte below 0x20 sets its high bit in (b - 0x20) &^ b, and the high
	// bit of the OR of all bytes says whether any is beyond ASCII.
	var high uint64
	i := 0
	for ; i+32 <= len(s); i += 32 {
		t := s[i : i+32]
		a, b, c, d := le64(t[0:]), le64(t[8:]), le64(t[16:]), le64(t[24:])
		high |= a | b | c | d
		if ((a-lo*0x20)&^a|(b-lo*0x20)&^b|(c-lo*0x20)&^c|(d-lo*0x20)&^d)&hi != 0 && !controlsOK(t) {
			return false
		}
	}
	for ; i+8 <= len(s); i += 8 {
		t := s[i : i+8]
		x := le64(t)
		high |= x
		if (x-lo*0x20)&^x&hi != 0 && !controlsOK(t) {
			return false
		}
	}
	if !controlsOK(s[i:]) {
		return false
	}
	for ; i < len(s); i++ {
		high |= uint64(s[i])
	}
	if high&hi == 0 {
		return true
	}
	return utf8.ValidString(s) && !strings.Contains(s, "\uFFFE") && !strings.Contains(s, "\uFFFF")
}

// le64 returns the first eight bytes of s as a little-endian word (one load
// after the compiler combines the byte loads).
func le64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// controlsOK reports whether s has no control character other than TAB, LF
// and CR.
func controlsOK(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
			return false
		}
	}
	return true
}
