package main

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/esn-project/esn/internal/runner"
	"github.com/esn-project/esn/pkg/esn"
	"github.com/spf13/cobra"
)

// --profile gajim selects the Gajim compatibility profile, with Gajim's
// default groups unless --modp is given.
func TestProfileGajimFlag(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		profile esn.Profile
		groups  []int
	}{
		{[]string{"--profile", "gajim"}, esn.ProfileGajim, []int{15, 16, 14}},
		{[]string{"--profile", "gajim", "--modp", "14,15"}, esn.ProfileGajim, []int{14, 15}},
		{[]string{"--profile", "gajim", "--modp", "16"}, esn.ProfileGajim, []int{16}},
		{[]string{"--profile", "xep0217"}, esn.ProfileXEP0217, []int{14, 15}},
		{nil, esn.ProfileXEP0116, []int{14, 15}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var sf sessionFlags
			c := &cobra.Command{Use: "x", RunE: func(*cobra.Command, []string) error { return nil }}
			sf.register(c, "xep0116")
			c.SetArgs(tc.args)
			if err := c.Execute(); err != nil {
				t.Fatal(err)
			}
			p, err := sf.preferences()
			if err != nil {
				t.Fatal(err)
			}
			if p.Profile != tc.profile || !slices.Equal(p.Groups, tc.groups) {
				t.Fatalf("profile %s groups %v, want %s %v", p.Profile, p.Groups, tc.profile, tc.groups)
			}
		})
	}
	var sf sessionFlags
	sf.profile, sf.modp, sf.auth = "gajim-ish", "14", "auto"
	if _, err := sf.preferences(); err == nil || !strings.Contains(err.Error(), "gajim") {
		t.Errorf("unknown profile: %v", err)
	}
	// Gajim has no public keys: auto means the SAS, key is refused.
	sf.profile = "gajim"
	if p, err := sf.preferences(); err != nil || p.Auth != esn.AuthSAS {
		t.Errorf("--auth auto: %v %v", p.Auth, err)
	}
	sf.auth = "key"
	var ue *usageError
	if _, err := sf.preferences(); !errors.As(err, &ue) {
		t.Errorf("--auth key: %v", err)
	}
	// Nor an other shared secret.
	a := &app{getenv: func(k string) string {
		if k == envOSS {
			return "pw"
		}
		return ""
	}}
	p := esn.DefaultPreferences(esn.ProfileGajim)
	if err := (&ossFlag{}).apply(a, &p); !errors.As(err, &ue) || p.OSS != nil {
		t.Errorf("OSS under the gajim profile: %v", err)
	}
}

func TestOnlyUnacknowledged(t *testing.T) {
	na := runner.ErrNotAcknowledged
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{na, true},
		{errors.Join(na, na), true},
		{errors.Join(na, errors.New("lost")), false},
		{errors.New("lost"), false},
	} {
		if got := onlyUnacknowledged(tc.err); got != tc.want {
			t.Errorf("%v: %v", tc.err, got)
		}
	}
}
