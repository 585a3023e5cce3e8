package main

// The XEP-0116 "other shared secret" (OSS) of negotiate, send and receive.
// It is never taken from argv: only from a file or the environment.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/esn-project/esn/pkg/esn"
	"github.com/spf13/cobra"
)

// envOSS holds the other shared secret itself when --oss-file is not given.
const envOSS = "ESN_OSS"

// maxOSS bounds the secret: it is a password agreed out of band, not a file.
const maxOSS = 4096

// ossFlag is --oss-file.
type ossFlag struct{ file string }

func (o *ossFlag) register(c *cobra.Command) {
	c.Flags().StringVar(&o.file, "oss-file", "", "read the other shared secret (XEP-0116 OSS) from `FILE`, mode 600 (env "+envOSS+" holds the secret itself); both parties must use the same")
}

// apply sets prefs.OSS from --oss-file, else from $ESN_OSS; with neither,
// no OSS is used (digest D-11: nothing is appended to K).
func (o *ossFlag) apply(a *app, prefs *esn.Preferences) error {
	oss, from, err := o.load(a.getenv)
	if err != nil {
		return err
	}
	if oss != nil && prefs.Profile == esn.ProfileGajim {
		return usagef("%s: the gajim profile has no other shared secret (Gajim's is always empty)", from)
	}
	if oss != nil {
		prefs.OSS = oss
		a.ui.infof("using the other shared secret from %s: the peer must use the same one", from)
	}
	return nil
}

// load returns the secret and where it came from ("" when none).
func (o *ossFlag) load(getenv func(string) string) ([]byte, string, error) {
	if o.file == "" {
		v := getenv(envOSS)
		if v == "" {
			return nil, "", nil
		}
		if len(v) > maxOSS {
			return nil, "", usagef("%s: the other shared secret is longer than %d bytes", envOSS, maxOSS)
		}
		return []byte(v), envOSS, nil
	}
	b, err := readOSSFile(o.file)
	if err != nil {
		return nil, "", err
	}
	return b, o.file, nil
}

// readOSSFile reads the secret: the file's bytes without one trailing
// newline (so that `echo secret > FILE` works). A regular file that group
// or others can access is refused, like a password file; a pipe (a shell's
// <(command)) is accepted.
func readOSSFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, usagef("--oss-file: %v", err)
		}
		return nil, fmt.Errorf("--oss-file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("--oss-file: %w", err)
	}
	switch {
	case fi.Mode().IsRegular():
		if fi.Mode().Perm()&0o077 != 0 {
			return nil, withHint(withCode(exitNoPerm, fmt.Errorf("--oss-file %s has mode %#o: group or others could read the shared secret", path, fi.Mode().Perm())),
				"run: chmod 600 %s", path)
		}
	case fi.Mode()&(fs.ModeNamedPipe|fs.ModeCharDevice) != 0:
	default:
		return nil, usagef("--oss-file %s is not a regular file", path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxOSS+2))
	if err != nil {
		return nil, fmt.Errorf("--oss-file: %w", err)
	}
	s := b
	if t, ok := bytes.CutSuffix(s, []byte("\n")); ok {
		s = bytes.TrimSuffix(t, []byte("\r"))
	}
	switch {
	case len(s) > maxOSS:
		clear(b)
		return nil, usagef("--oss-file %s: the other shared secret is longer than %d bytes", path, maxOSS)
	case len(s) == 0:
		return nil, usagef("--oss-file %s is empty", path)
	}
	return s, nil
}

// identityHint explains a negotiation whose last identity MAC (M_B) does
// not verify: the keys of both sides differ although the Diffie-Hellman
// exchange verified, and the usual cause is a different other shared
// secret (K_final = HASH(K | SRS | OSS)).
func identityHint(err error) error {
	var ne *esn.NegotiationError
	if errors.As(err, &ne) && ne.Step == "identity" && errors.Is(err, esn.ErrAuthentication) {
		return withHint(err, "if either side uses an other shared secret (--oss-file or %s), both must use the same one; otherwise the negotiation was altered in transit", envOSS)
	}
	return err
}
