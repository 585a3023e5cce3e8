package esn

import (
	"bytes"
	"errors"
	"testing"

	"github.com/esn-project/esn/pkg/crypt"
)

func TestParseIdentityProof(t *testing.T) {
	ka, _, _ := testKeys(t)
	kv := KeyValue(&ka.PublicKey)
	sig := "<SignatureValue>" + crypt.EncodeBase64([]byte("signature bytes")) + "</SignatureValue>"
	fp := "<fingerprint>" + crypt.EncodeBase64(make([]byte, 32)) + "</fingerprint>"
	tests := []struct {
		name, method, plain string
		ok                  bool
	}{
		{"key", PubKeyKey, string(kv) + sig, true},
		{"key in the XML-DSig namespace", PubKeyKey, `<KeyValue xmlns="` + NSXMLDSig + `">` + string(kv[len("<KeyValue>"):]) + sig, true},
		{"hash", PubKeyHash, fp + sig, true},
		{"key for method hash", PubKeyHash, string(kv) + sig, false},
		{"fingerprint for method key", PubKeyKey, fp + sig, false},
		{"method none", PubKeyNone, fp + sig, false},
		{"no signature", PubKeyKey, string(kv), false},
		{"signature not Base64", PubKeyHash, fp + "<SignatureValue>!!</SignatureValue>", false},
		{"trailing text", PubKeyHash, fp + sig + "x", false},
		{"raw MAC", PubKeyKey, string(make([]byte, 32)), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ParseIdentityProof(tc.method, []byte(tc.plain))
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
			if err != nil {
				if !errors.Is(err, ErrAuthentication) {
					t.Errorf("error %v does not wrap ErrAuthentication", err)
				}
				return
			}
			if string(p.Signature) != "signature bytes" {
				t.Errorf("signature %q", p.Signature)
			}
			switch tc.method {
			case PubKeyKey:
				if !p.Key.Equal(&ka.PublicKey) || !bytes.Equal(p.KeyValue, kv) || p.Fingerprint != nil {
					t.Errorf("key proof %+v", p)
				}
			case PubKeyHash:
				if len(p.Fingerprint) != 32 || p.Key != nil {
					t.Errorf("hash proof %+v", p)
				}
			}
		})
	}
}
