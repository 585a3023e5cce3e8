package esn

import "testing"

// Both sides report the profile the negotiation followed, whatever their
// own preferences: a request within the XEP-0217 Fixed Parameters answered
// within them is xep0217.
func TestNegotiatedProfile(t *testing.T) {
	p0217, p0116 := DefaultPreferences(ProfileXEP0217), DefaultPreferences(ProfileXEP0116)
	fixed0116 := DefaultPreferences(ProfileXEP0116) // full-profile form, fixed values only
	fixed0116.Ciphers, fixed0116.RekeyFreq = []string{CipherAES128CTR}, RekeyNever
	tests := []struct {
		name   string
		a, b   Preferences
		want   Profile
		rekeys uint32
	}{
		{"0217 to 0217", p0217, p0217, ProfileXEP0217, RekeyNever},
		{"0217 request, 0116 responder", p0217, p0116, ProfileXEP0217, RekeyNever},
		{"0116 request, 0217 responder", p0116, p0217, ProfileXEP0116, RekeyNever},
		{"0116 to 0116", p0116, p0116, ProfileXEP0116, 1000},
		{"0116 vocabulary, fixed values only", fixed0116, p0116, ProfileXEP0217, RekeyNever},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newPair(t, pairOpts{prefsA: tc.a, prefsB: tc.b})
			_, na, nb := p.mustNegotiate()
			if na.Params.Profile != tc.want || nb.Params.Profile != tc.want {
				t.Errorf("initiator reports %s, responder %s, want %s", na.Params.Profile, nb.Params.Profile, tc.want)
			}
			if na.Params.RekeyFreq != tc.rekeys || nb.Params.RekeyFreq != tc.rekeys {
				t.Errorf("rekey_freq %d / %d, want %d", na.Params.RekeyFreq, nb.Params.RekeyFreq, tc.rekeys)
			}
		})
	}
}

func TestNegotiatedProfileRequestShapes(t *testing.T) {
	fixedParams := Params{Cipher: CipherAES128CTR, Hash: HashSHA256, Compress: CompressNone, InitPubKey: PubKeyNone,
		RespPubKey: PubKeyNone, SAS: SASAlg, RekeyFreq: RekeyNever}
	base := func() *Form {
		return buildRequest(DefaultPreferences(ProfileXEP0217).withDefaults(), make([]byte, 16), [][]byte{make([]byte, 32), make([]byte, 32)})
	}
	tests := []struct {
		name   string
		mutate func(*Form, *Params)
		want   Profile
	}{
		{"fixed", func(*Form, *Params) {}, ProfileXEP0217},
		{"two ciphers offered", func(f *Form, _ *Params) {
			f.Field("crypt_algs").Values = []string{CipherAES128CTR, CipherAES256CTR}
		}, ProfileXEP0116},
		{"sign_algs offered", func(f *Form, _ *Params) { f.Add(Field{Var: "sign_algs", Values: []string{"x"}}) }, ProfileXEP0116},
		{"dhkeys (3-message)", func(f *Form, _ *Params) { f.Add(Field{Var: "dhkeys", Values: []string{"x"}}) }, ProfileXEP0116},
		{"rekey answered lower", func(_ *Form, p *Params) { p.RekeyFreq = 1000 }, ProfileXEP0116},
		{"public key answered", func(_ *Form, p *Params) { p.RespPubKey = "key" }, ProfileXEP0116},
		{"no rekey_freq", func(f *Form, _ *Params) { f.Field("rekey_freq").Values = nil }, ProfileXEP0116},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, par := base(), fixedParams
			tc.mutate(f, &par)
			if got := negotiatedProfile(f, par); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}
