package main

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/esn-project/esn/pkg/esn"
	"github.com/esn-project/esn/pkg/pubkey"
	"github.com/esn-project/esn/pkg/store"
)

var (
	ringKeysOnce sync.Once
	ringKeys     [3]*rsa.PrivateKey
)

func ringTestKeys(t *testing.T) [3]*rsa.PrivateKey {
	ringKeysOnce.Do(func() {
		for i := range ringKeys {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			ringKeys[i] = k
		}
	})
	return ringKeys
}

func testApp(t *testing.T) (*app, *bytes.Buffer) {
	var out, errb bytes.Buffer
	a := &app{stdout: &out, stderr: &errb, getenv: func(string) string { return "" },
		s: settings{StateDir: t.TempDir()}}
	a.ui = newUI(&out, &errb, false, false, true)
	return a, &errb
}

// trustRecord marks the stored key with fingerprint fp trusted, as esn
// keys trust does.
func trustRecord(t *testing.T, db *trustDB, peer string, fp pubkey.Fingerprint) {
	t.Helper()
	keys, err := db.peerKeys(peer)
	if err != nil {
		t.Fatal(err)
	}
	pk := findPeerKey(keys, fp)
	if pk == nil {
		t.Fatalf("no record %s for %s", fp, peer)
	}
	err = db.update(func(tx *store.Tx) error {
		rec := pk.rec
		rec.Verified = true
		return putRecord(tx, db.account, rec, pk.data)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestKeyRingDecisions(t *testing.T) {
	k := ringTestKeys(t)
	const me, alice, mallory = "bob@example.org", "alice@example.org", "mallory@example.org"
	a, _ := testApp(t)
	ring, err := a.newKeyRing(me, false)
	if err != nil {
		t.Fatal(err)
	}
	if ring.Signer() != nil {
		t.Fatal("a signer without a key")
	}

	// An unknown, unpublished key: refused with the trust command, and
	// remembered so that the command works.
	err = ring.CheckKey(alice, &k[0].PublicKey)
	var ue *pubkey.UntrustedKeyError
	if !errors.As(err, &ue) || !errors.Is(err, pubkey.ErrUnknownKey) || ue.Published {
		t.Fatalf("unknown key: %v", err)
	}
	fp := keyOnlyFingerprint(&k[0].PublicKey)
	if !ue.Fingerprint.Equal(fp) || ue.TrustCommand() != "esn keys trust "+alice+" "+fp.Hex() {
		t.Fatalf("trust command %q", ue.TrustCommand())
	}
	if got := exitCode(fmt.Errorf("%w: %w", esn.ErrUntrustedKey, err)); got != exitNoPerm {
		t.Fatalf("exit %d, want %d", got, exitNoPerm)
	}
	if keys, _ := ring.TrustedKeys(alice); len(keys) != 0 {
		t.Fatal("an unknown key is trusted")
	}
	trustRecord(t, ring.db, alice, fp)
	if err := ring.CheckKey(alice, &k[0].PublicKey); err != nil {
		t.Fatalf("trusted key: %v", err)
	}
	if keys, _ := ring.TrustedKeys(alice); len(keys) != 1 || !keys[0].Equal(&k[0].PublicKey) {
		t.Fatalf("TrustedKeys = %v", keys)
	}

	// alice presents another key: refused as changed (K-14), even with
	// TOFU; mallory presents alice's key: refused (K-13).
	tofu := &keyRing{a: a, db: ring.db, tofu: true}
	for _, r := range []*keyRing{ring, tofu} {
		if err := r.CheckKey(alice, &k[1].PublicKey); !errors.Is(err, pubkey.ErrKeyChanged) {
			t.Fatalf("changed key (tofu %v): %v", r.tofu, err)
		}
		err := r.CheckKey(mallory, &k[0].PublicKey)
		if !errors.Is(err, pubkey.ErrKeyOfOtherJID) || !errors.As(err, &ue) || ue.TrustCommand() != "" {
			t.Fatalf("other JID (tofu %v): %v", r.tofu, err)
		}
	}

	// TOFU trusts a new peer's key and says so.
	a2, stderr := testApp(t)
	tr, _ := a2.newKeyRing(me, true)
	if err := tr.CheckKey("carol@example.org", &k[2].PublicKey); err != nil {
		t.Fatalf("tofu: %v", err)
	}
	if !strings.Contains(stderr.String(), "--tofu: trusted carol@example.org's key") {
		t.Fatalf("no TOFU warning: %q", stderr)
	}
	if keys, _ := tr.TrustedKeys("carol@example.org"); len(keys) != 1 {
		t.Fatal("TOFU key not recorded")
	}
}

// TestKeyRingPublishedAndRevoked: a fetched key is named by its XEP-0189
// print and trusted through it; a verified revocation then refuses it.
func TestKeyRingPublishedAndRevoked(t *testing.T) {
	k := ringTestKeys(t)
	const me, alice = "bob@example.org", "alice@example.org"
	a, _ := testApp(t)
	ring, err := a.newKeyRing(me, false)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	pk := pubkey.NewPublicKey(&k[0].PublicKey, alice, now.Add(-time.Hour), now.Add(time.Hour))
	// Seen unpublished first, then fetched: the published record wins.
	_ = ring.CheckKey(alice, &k[0].PublicKey)
	if err := ring.db.recordFetched(alice, pk); err != nil {
		t.Fatal(err)
	}
	err = ring.CheckKey(alice, &k[0].PublicKey)
	var ue *pubkey.UntrustedKeyError
	if !errors.As(err, &ue) || !ue.Published || !ue.Fingerprint.Equal(pk.Fingerprint()) {
		t.Fatalf("published but untrusted: %v", err)
	}
	trustRecord(t, ring.db, alice, pk.Fingerprint())
	if err := ring.CheckKey(alice, &k[0].PublicKey); err != nil {
		t.Fatal(err)
	}
	if got := ring.peerFingerprint(alice, &k[0].PublicKey); !got.Equal(pk.Fingerprint()) {
		t.Fatalf("peerFingerprint = %s", got)
	}
	// A revocation signed by another key is ignored; a self-signed one is
	// applied.
	forged, err := pubkey.NewRevocation(rand.Reader, pk, pubkey.NewPublicKey(&k[1].PublicKey, alice, now, now), k[1], now)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := ring.db.applyRevocations(alice, []*pubkey.Revocation{forged}, nil); err != nil || len(got) != 0 {
		t.Fatalf("forged revocation applied: %v %v", got, err)
	}
	rv, err := pubkey.NewRevocation(rand.Reader, pk, pk, k[0], now)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := ring.db.applyRevocations(alice, []*pubkey.Revocation{rv}, nil); err != nil || len(got) != 1 {
		t.Fatalf("revocation not applied: %v %v", got, err)
	}
	err = ring.CheckKey(alice, &k[0].PublicKey)
	if !errors.Is(err, pubkey.ErrRevoked) || !errors.As(err, &ue) || ue.TrustCommand() != "" {
		t.Fatalf("revoked key: %v", err)
	}
	if keys, _ := ring.TrustedKeys(alice); len(keys) != 0 {
		t.Fatal("a revoked key is still trusted")
	}
	if h, ok := keyTrustHint(err); !ok || !strings.Contains(h, "revoked") {
		t.Fatalf("hint %q", h)
	}
}

func TestKeysExitCodes(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{&pubkey.UntrustedKeyError{JID: "a@b", Reason: pubkey.ErrUnknownKey}, exitNoPerm},
		{fmt.Errorf("x: %w", esn.ErrUntrustedKey), exitNoPerm},
		{&esn.NegotiationError{Condition: esn.CondFeatureNotImplemented, Err: fmt.Errorf("%w: y", esn.ErrUntrustedKey)}, exitNoPerm},
		{&pubkey.PermissionError{Path: "/k", Fix: "chmod 600 /k"}, exitNoPerm},
		{fmt.Errorf("k: %w", pubkey.ErrWrongPassphrase), exitNoPerm},
		{pubkey.ErrNeedPassphrase, exitNoPerm},
		{esn.ErrNoIdentity, exitUsage},
		{fmt.Errorf("p: %w", pubkey.ErrMalformed), exitDataErr},
		{fmt.Errorf("p: %w", pubkey.ErrWeakKey), exitDataErr},
		{usageErr(fmt.Errorf("%w", pubkey.ErrBadFingerprint)), exitUsage},
	}
	for _, tc := range tests {
		if got := exitCode(tc.err); got != tc.want {
			t.Errorf("exitCode(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}
