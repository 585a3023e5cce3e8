package transport_test

import (
	"bufio"
	"crypto/x509"
	"os"
	"strings"
	"testing"
)

// needProsody reads the env file named by ESN_TEST_ENV. Without one the
// test is skipped, except under CI=true, where it fails.
func needProsody(t *testing.T) prosody {
	t.Helper()
	path := os.Getenv("ESN_TEST_ENV")
	if path == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("ESN_TEST_ENV is not set: no test server (run scripts/test.sh)")
		}
		t.Skip("ESN_TEST_ENV is not set: no test server")
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "export ")
		if !ok {
			continue
		}
		k, v, _ := strings.Cut(line, "=")
		env[k] = strings.Trim(v, "'")
	}
	pem, err := os.ReadFile(env["ESN_CA_FILE"])
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("no certificate in %s", env["ESN_CA_FILE"])
	}
	return prosody{Server: env["ESN_SERVER"], DirectTLSServer: env["ESN_DIRECT_TLS_SERVER"], Domain: env["ESN_DOMAIN"], CAs: pool}
}
