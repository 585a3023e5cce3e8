package crypt

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// validTextRef is validText written plainly, rune by rune.
func validTextRef(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 && r != '\t' && r != '\n' && r != '\r' || r == 0xFFFE || r == 0xFFFF {
			return false
		}
	}
	return true
}

// TestValidTextPositions puts every kind of character at every position of
// strings that cover each step of validText's word loops and its tail.
func TestValidTextPositions(t *testing.T) {
	for _, c := range []string{"\x00", "\x01", "\x1f", "\t", "\n", "\r", "\x7f", "é", "\xff", "\xc3", "\ufffe", "\uffff", "😀", "\ufffd", "\xed\xa0\x80", "<"} {
		for n := 0; n <= 80; n++ {
			for i := 0; i <= n; i++ {
				s := strings.Repeat("a", i) + c + strings.Repeat("b", n-i)
				if got, want := validText(s), validTextRef(s); got != want {
					t.Fatalf("validText(%q) = %v, want %v", s, got, want)
				}
			}
		}
	}
}

// TestValidTextControls: text full of allowed control characters (line
// breaks, tabs), which sends every word to the byte-wise check
// (controlsOK), with a bad or good byte at every position.
func TestValidTextControls(t *testing.T) {
	for _, bg := range []string{"\n", "\t\r", "a\n"} {
		for _, c := range []string{"\x00", "\x01", "\x08", "\x0b", "\x0c", "\x0e", "\x1f", "\t", "\n", "\r", " ", "é"} {
			for n := 0; n <= 70; n++ {
				for i := 0; i <= n; i++ {
					s := strings.Repeat(bg, n)[:n]
					s = s[:i] + c + s[i:]
					if got, want := validText(s), validTextRef(s); got != want {
						t.Fatalf("validText(%q) = %v, want %v", s, got, want)
					}
				}
			}
		}
	}
}

// FuzzValidText checks validText against the plain reference.
func FuzzValidText(f *testing.F) {
	for _, s := range []string{"", "plain", "tab\tlf\ncr\r", "\x00", strings.Repeat("abcdefgh", 5) + "\x1f", "ü\ufffe", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := validText(s), validTextRef(s); got != want {
			t.Fatalf("validText(%q) = %v, want %v", s, got, want)
		}
	})
}

// escapeRef escapes s byte by byte, escaping the bytes in special.
func escapeRef(s, special string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(special, s[i]) >= 0 {
			b.WriteString(escapeFor(s[i]))
		} else {
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

func checkEscape(t *testing.T, s string) {
	t.Helper()
	if got, want := string(appendEscapedAttr([]byte("x"), s)), "x"+escapeRef(s, "&<\"\t\n\r"); got != want {
		t.Fatalf("appendEscapedAttr(%q) = %q, want %q", s, got, want)
	}
	if got, want := string(appendEscapedText([]byte("x"), s)), "x"+escapeRef(s, "&<>\r"); got != want {
		t.Fatalf("appendEscapedText(%q) = %q, want %q", s, got, want)
	}
}

// TestEscapePositions puts every special byte (and some that are not) at
// every position of strings, alone and twice, on both sides of the length
// where text escaping changes its search.
func TestEscapePositions(t *testing.T) {
	for _, c := range []string{"&", "<", ">", "\"", "'", "\t", "\n", "\r", "\x01", "é"} {
		for n := 0; n <= 70; n++ {
			for i := 0; i <= n; i++ {
				s := strings.Repeat("a", i) + c + strings.Repeat("b", n-i)
				checkEscape(t, s)
				checkEscape(t, s+c)
			}
		}
	}
	checkEscape(t, `a&b<c>d"e`+"\t\n\r")
}

// FuzzEscape checks the text and attribute escaping against the byte-by-byte
// reference.
func FuzzEscape(f *testing.F) {
	for _, s := range []string{"", "plain", "a&b", "x<y>z", `say "hi"`, "tab\tlf\ncr\r", "é&"} {
		f.Add(s)
	}
	f.Fuzz(checkEscape)
}

// BenchmarkValidText: chat prose, and text with a line break every 40
// bytes, whose words go to the byte-wise check (about 5 × slower per byte;
// a word-wise exact check of the controls measured only 12 % faster).
func BenchmarkValidText(b *testing.B) {
	lines := strings.Repeat(strings.Repeat("x", 39)+"\n", 26)[:1024]
	for _, tc := range []struct{ name, s string }{{"prose", body1K}, {"lines", lines}} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(tc.s)))
			for b.Loop() {
				if !validText(tc.s) {
					b.Fatal("invalid")
				}
			}
		})
	}
}
