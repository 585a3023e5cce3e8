package archive

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/esn-project/esn/pkg/xmltree"
)

func encryptedSample(t *testing.T, recipients ...Recipient) *Collection {
	t.Helper()
	c := &Collection{With: "juliet@capulet.com/chamber", Start: ts("2024-05-01T10:00:00Z"), Thread: "th", Entries: sampleEntries()}
	if err := Encrypt(nil, c, recipients); err != nil {
		t.Fatal(err)
	}
	return c
}

// wire sends c through its XML form, as the server would store it.
func wire(t *testing.T, c *Collection) *Collection {
	t.Helper()
	e, err := c.Element()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseCollection(mustParse(t, e.String()))
	if err != nil {
		t.Fatal(err)
	}
	return back
}

func TestEncryptDecrypt(t *testing.T) {
	c := wire(t, encryptedSample(t, testRecipient(0), testRecipient(1)))
	if len(c.Entries) != 0 || len(c.Encrypted) != 1 || len(c.Keys) != 2 {
		t.Fatalf("encrypted collection %+v", c)
	}
	e, _ := c.Element()
	for _, en := range sampleEntries() {
		if en.Body != "" && strings.Contains(e.String(), en.Body) {
			t.Errorf("the encrypted collection holds plaintext %q", en.Body)
		}
	}
	// Either of the user's keys decrypts it alone.
	for i := range 2 {
		got, err := Decrypt(c, []Identity{testIdentity(i)}, DecryptOptions{})
		if err != nil {
			t.Fatalf("key %d: %v", i, err)
		}
		if !reflect.DeepEqual(got, sampleEntries()) {
			t.Errorf("key %d: decrypted\n%+v\nwant\n%+v", i, got, sampleEntries())
		}
	}
	// Key names match in any printed form of the fingerprint.
	id := testIdentity(1)
	id.KeyName = testPub(1).Fingerprint().String()
	if _, err := Decrypt(c, []Identity{id}, DecryptOptions{}); err != nil {
		t.Errorf("hex key name: %v", err)
	}
	// The algorithms written are the ones docs/archive.md promises.
	if c.Encrypted[0].Algorithm != AlgAES256GCM || c.Keys[0].Algorithm != AlgRSAOAEP ||
		c.Keys[0].Digest != DigestSHA256 || c.Keys[0].MGF != MGF1SHA256 || c.Keys[0].KeyName != KeyName(testPub(0)) {
		t.Errorf("algorithms %+v %+v", c.Encrypted[0], c.Keys[0])
	}
}

func TestDecryptWrongKey(t *testing.T) {
	c := encryptedSample(t, testRecipient(0))
	// No <EncryptedKey/> for our key: a NoKeyError naming both sides.
	_, err := Decrypt(c, []Identity{testIdentity(2)}, DecryptOptions{})
	var nk *NoKeyError
	if !errors.As(err, &nk) || !errors.Is(err, ErrNoKey) || len(nk.Wanted) != 1 || nk.Wanted[0] != KeyName(testPub(0)) {
		t.Fatalf("got %v", err)
	}
	// A key that claims the right name but is another key: opaque failure.
	impostor := Identity{KeyName: KeyName(testPub(0)), Key: testKeys()[2]}
	if _, err := Decrypt(c, []Identity{impostor}, DecryptOptions{}); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("impostor: got %v", err)
	}
	if _, err := Decrypt(c, nil, DecryptOptions{}); !errors.Is(err, ErrNoKey) {
		t.Fatalf("no identities: got %v", err)
	}
}

func TestDecryptTampered(t *testing.T) {
	c := encryptedSample(t, testRecipient(0))
	ids := []Identity{testIdentity(0)}
	cv := c.Encrypted[0].CipherValue
	// Flip one bit at a spread of positions: IV, body, tag.
	for _, pos := range []int{0, 11, 12, len(cv) / 2, len(cv) - 17, len(cv) - 1} {
		t.Run(fmt.Sprint("data", pos), func(t *testing.T) {
			d := *c
			ed := *c.Encrypted[0]
			ed.CipherValue = bytes.Clone(cv)
			ed.CipherValue[pos] ^= 0x01
			d.Encrypted = []*EncryptedData{&ed}
			if _, err := Decrypt(&d, ids, DecryptOptions{}); !errors.Is(err, ErrDecrypt) {
				t.Fatalf("got %v", err)
			}
		})
	}
	t.Run("truncated", func(t *testing.T) {
		d := *c
		ed := *c.Encrypted[0]
		ed.CipherValue = cv[:20]
		d.Encrypted = []*EncryptedData{&ed}
		if _, err := Decrypt(&d, ids, DecryptOptions{}); !errors.Is(err, ErrDecrypt) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("wrapped key", func(t *testing.T) {
		d := *c
		k := *c.Keys[0]
		k.CipherValue = bytes.Clone(k.CipherValue)
		k.CipherValue[5] ^= 0x80
		d.Keys = []*EncryptedKey{&k}
		if _, err := Decrypt(&d, ids, DecryptOptions{}); !errors.Is(err, ErrDecrypt) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("swapped key name", func(t *testing.T) {
		// The data names a key the collection does not carry.
		d := *c
		ed := *c.Encrypted[0]
		ed.KeyName = "esn-other"
		d.Encrypted = []*EncryptedData{&ed}
		if _, err := Decrypt(&d, ids, DecryptOptions{}); !errors.Is(err, ErrNoKey) {
			t.Fatalf("got %v", err)
		}
	})
}

// legacyCollection builds what XEP-0241's example describes: aes128-cbc
// data, the key wrapped with rsa-1_5.
func legacyCollection(t *testing.T, entries []Entry, pad byte) *Collection {
	t.Helper()
	key := make([]byte, 16)
	rand.Read(key)
	root := xmltree.New(NS, "chat")
	if err := appendEntries(root, entries); err != nil {
		t.Fatal(err)
	}
	var pt bytes.Buffer
	for _, c := range root.Children() {
		c.WriteTo(&pt)
	}
	n := 16 - pt.Len()%16
	for i := 0; i < n-1; i++ {
		pt.WriteByte(0xAA) // XML Encryption padding: arbitrary, then the count
	}
	pt.WriteByte(byte(n) + pad)
	iv := make([]byte, 16)
	rand.Read(iv)
	block, _ := aes.NewCipher(key)
	ct := make([]byte, pt.Len())
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(ct, pt.Bytes())
	wrapped, err := rsa.EncryptPKCS1v15(rand.Reader, &testKeys()[0].PublicKey, key) //nolint:staticcheck // building a legacy vector
	if err != nil {
		t.Fatal(err)
	}
	return &Collection{With: "juliet@capulet.com/chamber", Start: entries[0].Time,
		Encrypted: []*EncryptedData{{Type: TypeContent, Algorithm: AlgAES128CBC, KeyName: "dataKey1", CipherValue: append(iv, ct...)}},
		Keys:      []*EncryptedKey{{Algorithm: AlgRSA15, KeyName: "romeoPublicKey1fingerprint", CarriedKeyName: "dataKey1", CipherValue: wrapped}},
	}
}

func TestDecryptLegacy(t *testing.T) {
	id := testIdentity(0)
	id.KeyName = "romeoPublicKey1fingerprint"
	ids := []Identity{id}
	c := wire(t, legacyCollection(t, sampleEntries(), 0))
	_, err := Decrypt(c, ids, DecryptOptions{})
	var ae *AlgorithmError
	if !errors.As(err, &ae) || !ae.Legacy || !errors.Is(err, ErrLegacyAlgorithm) {
		t.Fatalf("without AllowLegacy: %v", err)
	}
	got, err := Decrypt(c, ids, DecryptOptions{AllowLegacy: true})
	if err != nil || !reflect.DeepEqual(got, sampleEntries()) {
		t.Fatalf("with AllowLegacy: %v\n%+v", err, got)
	}
	// A bad padding count fails opaquely.
	bad := legacyCollection(t, sampleEntries(), 17)
	if _, err := Decrypt(bad, ids, DecryptOptions{AllowLegacy: true}); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("bad padding: %v", err)
	}
}

func TestDecryptUnknownAlgorithms(t *testing.T) {
	ids := []Identity{testIdentity(0)}
	c := encryptedSample(t, testRecipient(0))
	d := *c
	ed := *c.Encrypted[0]
	ed.Algorithm = NSXMLEnc + "tripledes-cbc"
	d.Encrypted = []*EncryptedData{&ed}
	if _, err := Decrypt(&d, ids, DecryptOptions{AllowLegacy: true}); !errors.Is(err, ErrUnsupportedAlgorithm) {
		t.Errorf("data: %v", err)
	}
	d = *c
	k := *c.Keys[0]
	k.Digest = "http://example.org/md5"
	d.Keys = []*EncryptedKey{&k}
	if _, err := Decrypt(&d, ids, DecryptOptions{}); !errors.Is(err, ErrUnsupportedAlgorithm) {
		t.Errorf("digest: %v", err)
	}
}

func TestSealerChunksShareKey(t *testing.T) {
	s, err := NewSealer(nil, []Recipient{testRecipient(0)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	all := sampleEntries()
	var c Collection
	c.With, c.Start = "a@b", all[0].Time
	for _, part := range [][]Entry{all[:3], all[3:]} {
		d, err := s.Seal(part)
		if err != nil {
			t.Fatal(err)
		}
		c.Encrypted = append(c.Encrypted, d)
	}
	c.Keys = s.Keys()
	if c.Encrypted[0].KeyName != c.Encrypted[1].KeyName || !strings.HasPrefix(s.KeyName(), "esn-") {
		t.Errorf("key names %q %q", c.Encrypted[0].KeyName, c.Encrypted[1].KeyName)
	}
	got, err := Decrypt(wire(t, &c), []Identity{testIdentity(0)}, DecryptOptions{})
	if err != nil || !reflect.DeepEqual(got, all) {
		t.Fatalf("%v\n%+v", err, got)
	}
}

func TestSealerRefuses(t *testing.T) {
	small, err := rsa.GenerateKey(rand.Reader, 1024) //nolint:gosec // checking that it is refused
	if err != nil {
		t.Fatal(err)
	}
	for i, rs := range [][]Recipient{
		nil,
		{{KeyName: "", Key: &testKeys()[0].PublicKey}},
		{{KeyName: "k", Key: nil}},
		{{KeyName: "k", Key: &small.PublicKey}},
		{testRecipient(0), testRecipient(0)},
	} {
		if _, err := NewSealer(nil, rs); err == nil {
			t.Errorf("%d: no error", i)
		}
	}
	s, _ := NewSealer(nil, []Recipient{testRecipient(0)})
	s.Close()
	if _, err := s.Seal(sampleEntries()); err == nil {
		t.Error("Seal after Close")
	}
}

func TestSealerRedacted(t *testing.T) {
	s, err := NewSealer(nil, []Recipient{testRecipient(0)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	raw := string(s.key)
	hx := hex.EncodeToString(s.key)
	for _, f := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		out := fmt.Sprintf(f, s)
		if strings.Contains(out, raw) || strings.Contains(out, hx) || !strings.Contains(out, "REDACTED") {
			t.Errorf("%s prints %q", f, out)
		}
	}
}

func TestEncryptRefusesEncrypted(t *testing.T) {
	c := encryptedSample(t, testRecipient(0))
	if err := Encrypt(nil, c, []Recipient{testRecipient(0)}); !errors.Is(err, ErrMixed) {
		t.Errorf("got %v", err)
	}
}
