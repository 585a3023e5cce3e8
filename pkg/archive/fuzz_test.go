package archive

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/esn-project/esn/pkg/xmltree"
)

// seeds adds every testdata file matching pattern; no seed is a failure,
// not an empty corpus.
func seeds(f *testing.F, pattern string, extra ...string) {
	files, err := filepath.Glob(filepath.Join("testdata", pattern))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seeds match testdata/%s", pattern)
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range extra {
		f.Add([]byte(s))
	}
}

func parseFuzz(data []byte) (*xmltree.Element, bool) {
	e, err := xmltree.Parse(data, xmltree.Limits{MaxBytes: 1 << 16, MaxNodes: 2048})
	return e, err == nil
}

func ourError(err error) bool {
	return errors.Is(err, ErrMalformed) || errors.Is(err, ErrTooLarge) || errors.Is(err, ErrMixed)
}

// FuzzParseCollection: parsing never panics, fails only with the
// package's errors, and decode → encode → decode is stable.
func FuzzParseCollection(f *testing.F) {
	seeds(f, "spec-*.xml", `<chat xmlns='urn:xmpp:archive' with='a@b' start='2024-05-01T10:00:00.5Z' version='0'><from utc='2024-05-01T09:00:00Z' name='n' jid='x@y/z'><body>hi</body></from><to secs='3'><body/></to><previous with='a@b' start='2024-01-01T00:00:00Z'/><next/></chat>`)
	f.Fuzz(func(t *testing.T, data []byte) {
		e, ok := parseFuzz(data)
		if !ok {
			return
		}
		c1, err := ParseCollection(e)
		if err != nil {
			if !ourError(err) {
				t.Fatalf("unexpected error class: %v", err)
			}
			return
		}
		e2, err := c1.Element()
		if err != nil {
			t.Fatalf("re-encoding a parsed collection: %v", err)
		}
		c2, err := ParseCollection(mustParse(t, e2.String()))
		if err != nil {
			t.Fatalf("re-parsing %s: %v", e2, err)
		}
		e3, _ := c2.Element()
		c3, err := ParseCollection(mustParse(t, e3.String()))
		if err != nil || !reflect.DeepEqual(c2, c3) {
			t.Fatalf("unstable:\n%+v\n%+v\n%v", c2, c3, err)
		}
	})
}

// FuzzParsePrefs: decode → encode → decode gives the same preferences.
func FuzzParsePrefs(f *testing.F) {
	seeds(f, "spec-pref.xml", `<pref xmlns='urn:xmpp:archive'><default otr='require' save='false' unset='1'/></pref>`)
	f.Fuzz(func(t *testing.T, data []byte) {
		e, ok := parseFuzz(data)
		if !ok {
			return
		}
		p, err := ParsePrefs(e)
		if err != nil {
			if !ourError(err) {
				t.Fatalf("unexpected error class: %v", err)
			}
			return
		}
		back, err := ParsePrefs(mustParse(t, p.Element().String()))
		if err != nil || !reflect.DeepEqual(p, back) {
			t.Fatalf("unstable:\n%+v\n%+v\n%v", p, back, err)
		}
	})
}

// FuzzParseReplies covers the list, modified and push parsers and the RSM
// set: no panic, only the package's errors.
func FuzzParseReplies(f *testing.F) {
	seeds(f, "*.xml", `<iq type='set'><itemremove xmlns='urn:xmpp:archive'><item jid='a@b'/></itemremove></iq>`)
	f.Fuzz(func(t *testing.T, data []byte) {
		e, ok := parseFuzz(data)
		if !ok {
			return
		}
		for _, err := range []error{
			func() error { _, _, err := ParseList(e); return err }(),
			func() error { _, _, err := ParseModified(e); return err }(),
			func() error { _, err := ParsePush(e); return err }(),
			func() error { _, err := parseSet(e); return err }(),
			func() error { _, _, err := parseRetrieved(e, time.Time{}); return err }(),
		} {
			if err != nil && !ourError(err) {
				t.Fatalf("unexpected error class: %v", err)
			}
		}
	})
}

// FuzzDecrypt feeds arbitrary ciphertext under a real wrapped key: never
// a panic, and every failure is the opaque ErrDecrypt.
func FuzzDecrypt(f *testing.F) {
	s, err := NewSealer(nil, []Recipient{testRecipient(0)})
	if err != nil {
		f.Fatal(err)
	}
	d, err := s.Seal(sampleEntries())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(d.CipherValue)
	f.Add([]byte{})
	f.Add(make([]byte, 28))
	ids := []Identity{testIdentity(0)}
	f.Fuzz(func(t *testing.T, cv []byte) {
		c := &Collection{With: "a@b", Start: ts("2024-05-01T10:00:00Z"),
			Encrypted: []*EncryptedData{{Type: TypeContent, Algorithm: AlgAES256GCM, KeyName: s.KeyName(), CipherValue: cv}},
			Keys:      s.Keys()}
		_, err := Decrypt(c, ids, DecryptOptions{})
		if err != nil && !errors.Is(err, ErrDecrypt) {
			t.Fatalf("got %v", err)
		}
	})
}

// FuzzParsePlaintext covers the parser of decrypted content (what a
// legacy, unauthenticated ciphertext could make it see).
func FuzzParsePlaintext(f *testing.F) {
	f.Add([]byte(`<from xmlns="urn:xmpp:archive" utc="2024-05-01T10:00:00Z"><body>hi</body></from><to xmlns="urn:xmpp:archive" secs="2"><body>yo</body></to>`))
	f.Add([]byte(`</esn-plaintext><x/>`))
	f.Add([]byte(`<note xmlns="urn:xmpp:archive">n</note> trailing`))
	f.Fuzz(func(t *testing.T, pt []byte) {
		if len(pt) > 1<<16 {
			return
		}
		_, _, err := parsePlaintext(pt, ts("2024-05-01T10:00:00Z"))
		if err != nil && !ourError(err) {
			t.Fatalf("unexpected error class: %v", err)
		}
	})
}

// FuzzReadEvents: the JSON-lines reader never panics and fails only with
// the package's errors.
func FuzzReadEvents(f *testing.F) {
	seeds(f, "events.jsonl", `{"event":"sent","peer":"a@b","body":"x","time":"2024-05-01T10:00:00Z"}`)
	f.Fuzz(func(t *testing.T, data []byte) {
		msgs, _, err := ReadEvents(strings.NewReader(string(data)))
		if err != nil {
			if !ourError(err) {
				t.Fatalf("unexpected error class: %v", err)
			}
			return
		}
		for _, m := range msgs {
			if m.Body == "" || m.Time.IsZero() || m.Peer == "" {
				t.Fatalf("accepted %+v", m)
			}
		}
	})
}
