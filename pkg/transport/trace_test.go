package transport

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/esn-project/esn/pkg/xmltree"
)

func TestRedactor(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		0: {"auth", `<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="PLAIN">AGFsaWNlAHB3</auth>`,
			`<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="PLAIN">[redacted]</auth>`},
		1: {"prefixed", `<sasl:response xmlns:sasl="x">Yz1iaXdz</sasl:response>`, `<sasl:response xmlns:sasl="x">[redacted]</sasl:response>`},
		2: {"challenge and success", `<challenge>cj1m</challenge><success>dj1y</success>`,
			`<challenge>[redacted]</challenge><success>[redacted]</success>`},
		3: {"self-closing", `<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/><b>keep</b>`,
			`<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/><b>keep</b>`},
		4:  {"empty element", `<auth mechanism='X'></auth>`, `<auth mechanism='X'></auth>`},
		5:  {"quoted gt", `<auth a='>' b=">">c2VjcmV0</auth>`, `<auth a='>' b=">">[redacted]</auth>`},
		6:  {"cdata", `<response><![CDATA[secret]]></response>`, `<response>[redacted]</response>`},
		7:  {"nested markup", `<auth><x>secret</x>more</auth>tail`, `<auth>[redacted]</auth>tail`},
		8:  {"other elements untouched", `<message><body>hello auth</body></message>`, `<message><body>hello auth</body></message>`},
		9:  {"similar names", `<authx>keep</authx><authentication>keep</authentication>`, `<authx>keep</authx><authentication>keep</authentication>`},
		10: {"closing tag first", `</auth>keep`, `</auth>keep`},
		11: {"password", `<password>hunter2</password>`, `<password>[redacted]</password>`},
		12: {"comment", `<!-- <auth> -->keep`, `<!-- <auth> -->keep`},
		13: {"whitespace in tag", "<auth\n mechanism='PLAIN' >x</auth >", "<auth\n mechanism='PLAIN' >[redacted]</auth >"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var r redactor
			if got := string(r.redact([]byte(tc.in))); got != tc.want {
				t.Errorf("%d: whole:\n got %s\nwant %s", i, got, tc.want)
			}
			// The same result whatever the chunking.
			for size := 1; size < len(tc.in); size++ {
				var r redactor
				var out []byte
				for j := 0; j < len(tc.in); j += size {
					out = append(out, r.redact([]byte(tc.in[j:min(j+size, len(tc.in))]))...)
				}
				if string(out) != tc.want {
					t.Fatalf("%d: chunks of %d:\n got %s\nwant %s", i, size, out, tc.want)
				}
			}
		})
	}
}

// FuzzRedactorChunking checks that the redactor never panics and that its
// output does not depend on how the stream is split into reads.
func FuzzRedactorChunking(f *testing.F) {
	f.Add([]byte(`<auth mechanism="PLAIN">AGFsaWNl</auth><message><body>x</body></message>`), uint8(3))
	f.Add([]byte(`<a b='<auth>'><response>x<![CDATA[<]]></response></a>`), uint8(1))
	f.Add([]byte(`<<<//>>auth<auth/>`), uint8(7))
	f.Fuzz(func(t *testing.T, in []byte, step uint8) {
		var whole redactor
		want := whole.redact(in)
		size := int(step%16) + 1
		var r redactor
		var got []byte
		for i := 0; i < len(in); i += size {
			got = append(got, r.redact(in[i:min(i+size, len(in))])...)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("chunked %q != whole %q", got, want)
		}
	})
}

// FuzzRedactorHidesSecret builds a well-formed stream prefix from fuzzed
// element names, attributes and text, then a SASL element holding a
// secret: the secret must never survive redaction.
func FuzzRedactorHidesSecret(f *testing.F) {
	f.Add("body", "id", "a>b'c\"d", "hello <auth>", "SCRAMproof1234", uint8(2))
	f.Add("auth", "mechanism", "PLAIN", "", "cGFzc3dvcmQ=", uint8(1))
	f.Fuzz(func(t *testing.T, name, attrName, attrVal, text, secret string, step uint8) {
		if !validName(name) || !validName(attrName) || len(secret) < 6 || strings.ContainsAny(secret, "<&>") ||
			strings.Contains(redactedMarker, secret) {
			t.Skip()
		}
		prefix := xmltree.New("jabber:client", name)
		prefix.SetAttr(attrName, attrVal)
		prefix.AddText(text)
		stream := prefix.String() + `<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="X">` + secret + `</auth>`
		if strings.Contains(prefix.String(), secret) {
			t.Skip()
		}
		size := int(step%8) + 1
		var r redactor
		var out []byte
		for i := 0; i < len(stream); i += size {
			out = append(out, r.redact([]byte(stream[i:min(i+size, len(stream))]))...)
		}
		if bytes.Contains(out, []byte(secret)) {
			t.Fatalf("secret %q visible in %q", secret, out)
		}
	})
}

func validName(s string) bool {
	if s == "" || len(s) > 20 {
		return false
	}
	for i, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// TestTraceNeverShowsPassword logs in (SASL PLAIN over loopback, where the
// password itself is on the wire) with tracing on, exchanges a stanza and
// closes: neither the password nor its base64 forms may appear.
func TestTraceNeverShowsPassword(t *testing.T) {
	var tr bytes.Buffer
	c, p := dialPair(t, Config{Trace: &tr, Presence: true})
	p.next(t) // initial presence
	p.write(t, `<message from='bob@localhost/x' to='alice@localhost'><body>hi</body></message>`)
	c.Close()
	out := tr.String()

	forbidden := []string{
		testPassword,
		base64.StdEncoding.EncodeToString([]byte("\x00" + testUser + "\x00" + testPassword)),
		base64.StdEncoding.EncodeToString([]byte(testPassword)),
	}
	for _, s := range forbidden {
		if strings.Contains(out, s) {
			t.Errorf("trace contains %q:\n%s", s, out)
		}
	}
	for _, want := range []string{
		`SEND: <auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="PLAIN">` + redactedMarker + `</auth>`,
		"<stream:features>",
		`SEND: <presence xmlns="jabber:client"`,
		"RECV: <message",
		"SEND: </stream:stream>",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("trace lacks %q:\n%s", want, out)
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if !strings.HasPrefix(line, "SEND: ") && !strings.HasPrefix(line, "RECV: ") {
			t.Errorf("trace line without direction: %q", line)
		}
	}
}
