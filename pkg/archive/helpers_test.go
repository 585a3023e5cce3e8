package archive

import (
	"crypto/rand"
	"crypto/rsa"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/esn-project/esn/pkg/pubkey"
	"github.com/esn-project/esn/pkg/xmltree"
)

// testKeys are generated once per test binary: RSA key generation is slow.
var testKeys = sync.OnceValue(func() []*rsa.PrivateKey {
	keys := make([]*rsa.PrivateKey, 3)
	for i := range keys {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		keys[i] = k
	}
	return keys
})

// testPub describes key i as an XEP-0189 key of romeo.
func testPub(i int) *pubkey.PublicKey {
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	return pubkey.NewPublicKey(&testKeys()[i].PublicKey, "romeo@montague.net", t0, t0.AddDate(1, 0, 0))
}

func testRecipient(i int) Recipient { return RecipientFor(testPub(i)) }
func testIdentity(i int) Identity   { return IdentityFor(testPub(i), testKeys()[i]) }

func mustParse(t testing.TB, s string) *xmltree.Element {
	t.Helper()
	e, err := xmltree.Parse([]byte(s), xmltree.Limits{})
	if err != nil {
		t.Fatalf("parse %q: %v", s, err)
	}
	return e
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

// sampleEntries is a conversation with every kind of entry and timing case.
func sampleEntries() []Entry {
	return []Entry{
		{Kind: KindFrom, Time: ts("2024-05-01T10:00:00Z"), Body: "Art thou not Romeo, and a Montague?"},
		{Kind: KindTo, Time: ts("2024-05-01T10:00:11Z"), Body: "Neither, fair saint, if either thee dislike."},
		{Kind: KindNote, Time: ts("2024-05-01T10:05:00Z"), Body: "she might fancy me <3 & more"},
		{Kind: KindFrom, Time: ts("2024-05-01T10:00:18Z"), Body: "How cam'st thou hither?"},
		{Kind: KindFrom, Time: ts("2024-05-01T09:59:00Z"), Body: "an offline message, earlier", Name: "", JID: ""},
		{Kind: KindTo, Time: ts("2024-05-01T10:01:00Z"), Body: ""},
		{Kind: KindFrom, Time: ts("2024-05-01T10:01:03Z"), Body: "multi\nline\ttext", Name: "nurse", JID: "nurse@capulet.com/kitchen"},
		{Kind: KindNote, Body: "a note without time"},
	}
}
