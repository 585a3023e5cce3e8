//go:build unix

package term

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
	"testing"
)

// Without a controlling terminal, ReadSecret fails with ErrNoTerminal
// rather than reading stdin. The check runs in a child process started in
// a new session, which has no controlling terminal whatever the test runner
// has. (The prompt path itself is covered by cmd/esn/testdata/terminal.txt,
// which runs esn on a pseudo-terminal.)
func TestReadSecretWithoutTerminal(t *testing.T) {
	if os.Getenv("ESN_TERM_CHILD") == "1" {
		_, err := ReadSecret("password: ")
		if !errors.Is(err, ErrNoTerminal) {
			t.Fatalf("ReadSecret: %v, want ErrNoTerminal", err)
		}
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestReadSecretWithoutTerminal$", "-test.v")
	cmd.Env = append(os.Environ(), "ESN_TERM_CHILD=1")
	cmd.Stdin, _ = os.Open(os.DevNull)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

func TestIsTerminal(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "x")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if IsTerminal(f) {
		t.Error("a regular file is a terminal")
	}
	if IsTerminal(nil) {
		t.Error("nil is a terminal")
	}
}
