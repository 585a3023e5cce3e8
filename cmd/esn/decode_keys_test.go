package main

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/esn-project/esn/pkg/crypt"
	"github.com/esn-project/esn/pkg/esn"
	"github.com/esn-project/esn/pkg/pubkey"
	"github.com/rogpeppe/go-internal/testscript"
)

// TestDecodeScripts runs the scripts of esn decode on public-key sessions
// in testdata/decode/*.txt (no server needed). Besides the commands of
// runScripts they have:
//
//	mkkeycapture [-four] [-badsig] CAPTURE KEYLOG ALICEPEM BOBPEM BODY...
//	    record an in-memory public-key session between alice@localhost and
//	    bob@localhost (XEP-0116, group 5) in which alice sends the BODYs:
//	    by default the 3-message (SIGMA-I) negotiation, both identifying by
//	    fingerprint (hash); with -four the 4-message one, alice by
//	    fingerprint and bob with his whole key. It writes alice's
//	    `esn --trace` output, both sides' key log, alice's private key and
//	    bob's public key (PEM; the same keys for every call). -badsig makes
//	    bob's signatures invalid (one bit flipped).
func TestDecodeScripts(t *testing.T) {
	runScripts(t, "testdata/decode", map[string]scriptCmd{"mkkeycapture": cmdMkKeyCapture})
}

var (
	decodeKeysOnce sync.Once
	decodeKeys     [2]*rsa.PrivateKey
	decodeKeysErr  error
)

func decodeTestKeys() ([2]*rsa.PrivateKey, error) {
	decodeKeysOnce.Do(func() {
		for i := range decodeKeys {
			if decodeKeys[i], decodeKeysErr = rsa.GenerateKey(rand.Reader, 2048); decodeKeysErr != nil {
				return
			}
		}
	})
	return decodeKeys, decodeKeysErr
}

// decodeRing is an esn.KeyRing that trusts given keys, and with tofu any
// key on first use (esn --tofu).
type decodeRing struct {
	signer  crypto.Signer
	trusted map[string][]*rsa.PublicKey
	tofu    bool
}

func (r *decodeRing) Signer() crypto.Signer { return r.signer }
func (r *decodeRing) TrustedKeys(peer string) ([]*rsa.PublicKey, error) {
	return slices.Clone(r.trusted[peer]), nil
}
func (r *decodeRing) CheckKey(peer string, key *rsa.PublicKey) error {
	for _, k := range r.trusted[peer] {
		if k.Equal(key) {
			return nil
		}
	}
	if r.tofu {
		r.trusted[peer] = append(r.trusted[peer], key)
		return nil
	}
	return errors.New("untrusted")
}

// badSigner signs, then flips a bit of the signature.
type badSigner struct{ *rsa.PrivateKey }

func (b badSigner) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	sig, err := b.PrivateKey.Sign(r, digest, opts)
	if err == nil {
		sig[len(sig)/2] ^= 0x04
	}
	return sig, err
}

func cmdMkKeyCapture(ts *testscript.TestScript, neg bool, args []string) {
	var four, badSig bool
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		switch args[0] {
		case "-four":
			four = true
		case "-badsig":
			badSig = true
		default:
			ts.Fatalf("mkkeycapture: unknown option %s", args[0])
		}
		args = args[1:]
	}
	if neg || len(args) < 5 {
		ts.Fatalf("usage: mkkeycapture [-four] [-badsig] CAPTURE KEYLOG ALICEPEM BOBPEM BODY...")
	}
	keys, err := decodeTestKeys()
	ts.Check(err)
	capture, keylog, err := recordKeyedSession(keys, four, badSig, args[4:])
	ts.Check(err)
	alicePEM, err := pubkey.MarshalPrivateKeyPEM(keys[0])
	ts.Check(err)
	bobPEM, err := pubkey.MarshalPublicKeyPEM(&keys[1].PublicKey)
	ts.Check(err)
	for i, data := range [][]byte{[]byte(capture), []byte(keylog), alicePEM, bobPEM} {
		ts.Check(os.WriteFile(ts.MkAbs(args[i]), data, 0o600))
	}
}

// recordKeyedSession runs a public-key session between two managers in
// memory and returns alice's trace and the key log.
func recordKeyedSession(keys [2]*rsa.PrivateKey, four, badSig bool, bodies []string) (string, string, error) {
	ka, kb := keys[0], keys[1]
	var kl bytes.Buffer
	logf := func(e esn.KeyLogEntry) { fmt.Fprintln(&kl, e.String()) }
	pa := esn.DefaultPreferences(esn.ProfileXEP0116)
	pa.Groups = []int{5}
	pb := pa
	var bobSigner crypto.Signer = kb
	if badSig {
		bobSigner = badSigner{kb}
	}
	// 3-message: both trust each other's key, alice requires keys.
	ra := &decodeRing{signer: ka, trusted: map[string][]*rsa.PublicKey{"bob@localhost": {&kb.PublicKey}}}
	rb := &decodeRing{signer: bobSigner, trusted: map[string][]*rsa.PublicKey{"alice@localhost": {&ka.PublicKey}}}
	pa.Auth, pb.Auth = esn.AuthKey, esn.AuthAuto
	if four {
		// Alice does not know bob's key yet: 4-message, bob sends it and
		// alice trusts it on first use.
		ra.trusted, ra.tofu = map[string][]*rsa.PublicKey{}, true
	}
	suite := crypt.XEPSuite()
	suite.MinGroup = 5
	a, err := esn.NewManager(esn.Config{Local: "alice@localhost/a", Preferences: pa, Suite: &suite, KeyLog: logf, Keys: ra})
	if err != nil {
		return "", "", err
	}
	b, err := esn.NewManager(esn.Config{Local: "bob@localhost/b", Preferences: pb, Suite: &suite, KeyLog: logf, Keys: rb})
	if err != nil {
		return "", "", err
	}
	r := &memSession{alice: a, bob: b}
	thread, err := r.initiate()
	if err != nil {
		return "", "", err
	}
	if badSig {
		// Alice refused bob's identity: the capture ends there.
		return r.trace.String(), kl.String(), nil
	}
	for _, body := range bodies {
		if err := r.send(a, thread, body); err != nil {
			return "", "", err
		}
	}
	if err := r.terminate(thread); err != nil {
		return "", "", err
	}
	return r.trace.String(), kl.String(), nil
}
