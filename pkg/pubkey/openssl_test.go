package pubkey

import (
	"bytes"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// openssl runs the openssl command. It is required, never skipped: the
// test scripts install it (apt-get install openssl).
func openssl(t *testing.T, stdin []byte, args ...string) []byte {
	t.Helper()
	path, err := exec.LookPath("openssl")
	if err != nil {
		t.Fatalf("the openssl command is required for this test (apt-get install openssl): %v", err)
	}
	cmd := exec.Command(path, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// opensslModulus returns the upper-case hex modulus openssl reads from a
// key file.
func opensslModulus(t *testing.T, file string, pub bool) string {
	args := []string{"rsa", "-in", file, "-noout", "-modulus"}
	if pub {
		args = append(args, "-pubin")
	}
	out := strings.TrimSpace(string(openssl(t, nil, args...)))
	_, hex, ok := strings.Cut(out, "Modulus=")
	if !ok {
		t.Fatalf("openssl -modulus printed %q", out)
	}
	return hex
}

// TestOpenSSLRoundTrip imports keys made by the openssl command in both
// PEM forms it writes, exports them, and has openssl read what esn wrote
// and check signatures both ways.
func TestOpenSSLRoundTrip(t *testing.T) {
	dir := t.TempDir()
	pkcs8 := filepath.Join(dir, "pkcs8.pem")
	pkcs1 := filepath.Join(dir, "pkcs1.pem")
	openssl(t, nil, "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", pkcs8)
	openssl(t, nil, "rsa", "-in", pkcs8, "-traditional", "-out", pkcs1)
	for _, in := range []string{pkcs8, pkcs1} {
		t.Run(filepath.Base(in), func(t *testing.T) {
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			k, err := ParsePrivateKeyPEM(data)
			if err != nil {
				t.Fatal(err)
			}
			want := opensslModulus(t, in, false)
			if got := strings.ToUpper(k.N.Text(16)); got != want {
				t.Fatalf("modulus differs from openssl's")
			}
			// Export private and public; openssl must read both.
			priv, err := MarshalPrivateKeyPEM(k)
			if err != nil {
				t.Fatal(err)
			}
			pub, err := MarshalPublicKeyPEM(&k.PublicKey)
			if err != nil {
				t.Fatal(err)
			}
			privFile := filepath.Join(t.TempDir(), "priv.pem")
			pubFile := filepath.Join(t.TempDir(), "pub.pem")
			os.WriteFile(privFile, priv, 0o600)
			os.WriteFile(pubFile, pub, 0o600)
			openssl(t, nil, "pkey", "-in", privFile, "-noout", "-check")
			if got := opensslModulus(t, privFile, false); got != want {
				t.Fatal("openssl reads another modulus from the exported private key")
			}
			if got := opensslModulus(t, pubFile, true); got != want {
				t.Fatal("openssl reads another modulus from the exported public key")
			}
			// Re-import what we exported.
			k2, err := ParsePrivateKeyPEM(priv)
			if err != nil || !k2.Equal(k) {
				t.Fatalf("re-import: %v", err)
			}
			p2, err := ParsePublicKeyPEM(pub)
			if err != nil || !SameKey(p2, &k.PublicKey) {
				t.Fatalf("re-import public: %v", err)
			}
			// openssl's public key output reads back too.
			oPub := openssl(t, nil, "pkey", "-in", in, "-pubout")
			if p3, err := ParsePublicKeyPEM(oPub); err != nil || !SameKey(p3, &k.PublicKey) {
				t.Fatalf("openssl -pubout: %v", err)
			}

			// Signatures: esn signs, openssl verifies; openssl signs, esn
			// verifies (rsa-sha256 is PKCS#1 v1.5 over SHA-256).
			msg := []byte("mac_A bytes to sign")
			sig, err := Sign(rand.Reader, k, msg)
			if err != nil {
				t.Fatal(err)
			}
			sigFile := filepath.Join(t.TempDir(), "sig")
			os.WriteFile(sigFile, sig, 0o600)
			out := openssl(t, msg, "dgst", "-sha256", "-verify", pubFile, "-signature", sigFile)
			if !bytes.Contains(out, []byte("Verified OK")) {
				t.Fatalf("openssl did not verify esn's signature: %s", out)
			}
			osig := openssl(t, msg, "dgst", "-sha256", "-sign", in)
			if err := Verify(&k.PublicKey, msg, osig); err != nil {
				t.Fatalf("openssl's signature: %v", err)
			}
			if err := Verify(&k.PublicKey, append(msg, 'x'), osig); err == nil {
				t.Fatal("verified a signature over other data")
			}
		})
	}
}

func TestParsePEMErrors(t *testing.T) {
	dir := t.TempDir()
	ec := filepath.Join(dir, "ec.pem")
	openssl(t, nil, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", ec)
	ecData, _ := os.ReadFile(ec)
	small := filepath.Join(dir, "small.pem")
	openssl(t, nil, "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024", "-out", small)
	smallData, _ := os.ReadFile(small)
	enc := filepath.Join(dir, "enc.pem")
	openssl(t, nil, "pkey", "-in", "testdata/rsa2048-pkcs8.pem", "-aes256", "-passout", "pass:x", "-out", enc)
	encData, _ := os.ReadFile(enc)
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, ErrNoPEM},
		{"not PEM", []byte("hello"), ErrNoPEM},
		{"EC key", ecData, ErrNotRSA},
		{"1024-bit key", smallData, ErrWeakKey},
		{"encrypted PKCS#8", encData, ErrNoPEM},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParsePrivateKeyPEM(tc.data); !errorsIs(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}
