package transcript

import (
	"strings"
	"testing"

	"github.com/esn-project/esn/pkg/esn"
)

// FuzzDecode feeds arbitrary captures (seeded with real ones, whole and
// stanza by stanza) and key logs to the decoder: nothing may panic, and a
// step may report a decrypted body only after a MAC verified.
func FuzzDecode(f *testing.F) {
	c := record(f, esn.ProfileXEP0217, 5, "hello")
	f.Add([]byte(c.trace), []byte(c.keylog))
	n := 0
	for _, l := range strings.Split(c.trace, "\n") {
		if l != "" {
			f.Add([]byte(l), []byte(c.keylog))
			n++
		}
	}
	if n == 0 {
		f.Fatal("no seeds")
	}
	r := rekeyConversation(f) // XEP-0200 re-keys both ways
	f.Add([]byte(r.tr.String()), r.kl.Bytes())
	// Public-key sessions: 3-message (SIGMA-I) and keyed 4-message, whole
	// and stanza by stanza; their keys are known to the decoder below.
	ka, kb, _ := testKeys(f)
	for _, tc := range keyedCases {
		c := recordKeyed(f, tc, "hello")
		f.Add([]byte(c.trace), []byte(c.keylog))
		for _, l := range strings.Split(c.trace, "\n") {
			if strings.Contains(l, "<feature") {
				f.Add([]byte(l), []byte(c.keylog))
			}
		}
	}
	keys := []KnownKey{{Key: &ka.PublicKey, Source: "alice"}, {Key: &kb.PublicKey, Source: "bob"}}
	f.Add([]byte("<log><message xmlns='jabber:client'><thread>t</thread><c xmlns='http://www.xmpp.org/extensions/xep-0200.html#ns'/></message></log>"), []byte(""))
	f.Fuzz(func(t *testing.T, capture, keylog []byte) {
		kl, err := ParseKeyLog(strings.NewReader(string(keylog)))
		if err != nil {
			kl = nil
		}
		recs, _ := ReadCapture(strings.NewReader(string(capture)))
		tr := New(kl)
		tr.AddKeys(keys...)
		for _, r := range recs {
			s := tr.Add(r.Dir, r.Stanza)
			if s.Body != "" {
				ok := false
				for _, v := range s.Values {
					ok = ok || v.Name == "mac" && v.Check == OK
				}
				if !ok {
					t.Fatalf("body %q without a verified MAC", s.Body)
				}
			}
			var sb strings.Builder
			s.WriteText(&sb, "")
		}
	})
}
