package offline

import (
	"slices"
	"strconv"

	"github.com/esn-project/esn/pkg/crypt"
	"github.com/esn-project/esn/pkg/esn"
)

// Params are the parameters of one offline ESession: Bob's choices
// among Alice's offers (XEP-0116 §4.4 as XEP-0187 §3.3 reuses it).
type Params struct {
	Group      int
	Cipher     string
	Hash       string
	SignAlg    string
	Compress   string
	Version    string
	Logging    string // "mustnot" or "may" (also for the old 'otr' field)
	Disclosure string
	Security   string
	Stanzas    []string
	RekeyFreq  uint32
	// LoggingField is the name used by the options: "logging" or the old
	// XEP-0187 name "otr" (digest §8 #27 vocabulary).
	LoggingField string
}

// Preferences are Bob's acceptable values, preferred first. The zero
// value means the defaults.
type Preferences struct {
	// Groups acceptable, preferred first (default 15, 14, 16, 17, 18);
	// MinGroup is the weakest allowed (0 = crypt.DefaultMinGroup).
	Groups   []int
	MinGroup int
	// Ciphers acceptable, preferred first (default aes256-ctr,
	// aes192-ctr, aes128-ctr).
	Ciphers []string
	// Logging acceptable, preferred first (default mustnot, may).
	Logging []string
}

func (p Preferences) withDefaults() Preferences {
	if len(p.Groups) == 0 {
		p.Groups = []int{15, 14, 16, 17, 18}
	}
	if len(p.Ciphers) == 0 {
		p.Ciphers = []string{"aes256-ctr", "aes192-ctr", "aes128-ctr"}
	}
	if len(p.Logging) == 0 {
		p.Logging = []string{loggingMustNot, loggingMay}
	}
	return p
}

// loggingField returns the name of the logging field of a form.
func loggingField(f *esn.Form) string {
	if f.Field("logging") == nil && f.Field("otr") != nil {
		return "otr"
	}
	return "logging"
}

// otrValue maps a logging value to the old 'otr' boolean vocabulary.
func otrValue(logging string) string {
	if logging == loggingMustNot {
		return "true"
	}
	return "false"
}

func loggingOf(field, v string) string {
	if field != "otr" {
		return v
	}
	if b, ok := esn.ParseBool(v); ok && b {
		return loggingMustNot
	}
	return loggingMay
}

// selectParams makes Bob's choices (XEP-0116 §4.4 step 3): for every field
// the first of his preferences that Alice offered.
func selectParams(f *esn.Form, prefs Preferences) (Params, error) {
	prefs = prefs.withDefaults()
	var p Params
	pickStr := func(field string, ours []string) (string, error) {
		offered := choices(f.Field(field))
		for _, v := range ours {
			if slices.Contains(offered, v) {
				return v, nil
			}
		}
		return "", unsupported(field, "no acceptable option")
	}
	var err error
	p.LoggingField = loggingField(f)
	for _, l := range prefs.Logging {
		v := l
		if p.LoggingField == "otr" {
			v = otrValue(l)
		}
		if slices.Contains(choices(f.Field(p.LoggingField)), v) {
			p.Logging = l
			break
		}
	}
	if p.Logging == "" {
		return p, unsupported(p.LoggingField, "no acceptable option")
	}
	if p.Disclosure, err = pickStr("disclosure", []string{disclosureNever}); err != nil {
		return p, err
	}
	if p.Security, err = pickStr("security", []string{securityE2E}); err != nil {
		return p, err
	}
	offered := choices(f.Field("modp"))
	for _, g := range prefs.Groups {
		grp, gerr := crypt.GroupByID(g)
		if gerr != nil || !grp.AtLeast(prefs.MinGroup) {
			continue
		}
		if slices.Contains(offered, strconv.Itoa(g)) {
			p.Group = g
			break
		}
	}
	if p.Group == 0 {
		return p, unsupported("modp", "no acceptable MODP group")
	}
	var ciphers []string
	for _, c := range prefs.Ciphers {
		if cc, cerr := crypt.CipherByName(c); cerr == nil && !cc.IsNone() {
			ciphers = append(ciphers, c)
		}
	}
	if p.Cipher, err = pickStr("crypt_algs", ciphers); err != nil {
		return p, err
	}
	if p.Hash, err = pickStr("hash_algs", []string{hashSHA256}); err != nil {
		return p, err
	}
	for _, s := range choices(f.Field("sign_algs")) {
		if signAlias(s) == esn.SignRSASHA256 {
			p.SignAlg = s
			break
		}
	}
	if p.SignAlg == "" {
		return p, unsupported("sign_algs", "rsa-sha256 is not offered")
	}
	if p.Compress, err = pickStr("compress", []string{compressNone}); err != nil {
		return p, err
	}
	if _, err = pickStr("stanzas", []string{stanzaMessage}); err != nil {
		return p, err
	}
	p.Stanzas = []string{stanzaMessage}
	if p.Version, err = pickStr("ver", []string{protocolVersion, "1.3", "1.2"}); err != nil {
		return p, err
	}
	rf, ok := f.Value("rekey_freq")
	if ok {
		if _, err := parseRekey(rf); err != nil {
			return p, err
		}
	}
	// We never re-key offline (#43): answer the largest value, which is
	// at least Alice's and below 2^32 (E-05).
	p.RekeyFreq = crypt.NoRekey
	return p, nil
}

func parseRekey(v string) (uint32, error) {
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil || n == 0 {
		return 0, malformed("rekey_freq", "not an integer in 1..2^32-1")
	}
	return uint32(n), nil
}

// answerFields returns Bob's answer for p, in the order of the XEP-0187
// example (§3.3), before the ESession fields.
func (p Params) answerFields() []esn.Field {
	logging := p.Logging
	if p.LoggingField == "otr" {
		logging = otrValue(p.Logging)
	}
	one := func(v, val string) esn.Field { return esn.Field{Var: v, Values: []string{val}} }
	return []esn.Field{
		one(p.LoggingField, logging),
		one("disclosure", p.Disclosure),
		one("security", p.Security),
		one("modp", strconv.Itoa(p.Group)),
		one("crypt_algs", p.Cipher),
		one("hash_algs", p.Hash),
		one("sign_algs", p.SignAlg),
		one("compress", p.Compress),
		{Var: "stanzas", Values: p.Stanzas},
		one("ver", p.Version),
		one("rekey_freq", strconv.FormatUint(uint64(p.RekeyFreq), 10)),
	}
}

// checkAnswer is Alice's check that every choice in Bob's answer is one
// she offered (XEP-0187 §3.4 step "Diffie-Hellman Preparation (Alice)",
// XEP-0116 §4.5 step 1).
func checkAnswer(offer, ans *esn.Form) (Params, error) {
	var p Params
	p.LoggingField = loggingField(offer)
	single := func(field string) (string, error) {
		fl := ans.Field(field)
		if fl == nil || len(fl.Values) != 1 {
			return "", malformed(field, "want exactly one value")
		}
		if !slices.Contains(choices(offer.Field(field)), fl.Values[0]) {
			return "", unsupported(field, "not among the options offered")
		}
		return fl.Values[0], nil
	}
	var err error
	var lv string
	if lv, err = single(p.LoggingField); err != nil {
		return p, err
	}
	p.Logging = loggingOf(p.LoggingField, lv)
	fields := []struct {
		name string
		dst  *string
	}{
		{"disclosure", &p.Disclosure}, {"security", &p.Security}, {"crypt_algs", &p.Cipher},
		{"hash_algs", &p.Hash}, {"sign_algs", &p.SignAlg}, {"compress", &p.Compress}, {"ver", &p.Version},
	}
	for _, fd := range fields {
		if *fd.dst, err = single(fd.name); err != nil {
			return p, err
		}
	}
	g, err := single("modp")
	if err != nil {
		return p, err
	}
	if p.Group, err = strconv.Atoi(g); err != nil {
		return p, malformed("modp", "not a group number")
	}
	if p.Security != securityE2E {
		return p, unsupported("security", "offline ESessions are end-to-end")
	}
	st := ans.Field("stanzas")
	if st == nil || len(st.Values) == 0 {
		return p, malformed("stanzas", "no value")
	}
	for _, v := range st.Values {
		if !slices.Contains(choices(offer.Field("stanzas")), v) {
			return p, unsupported("stanzas", "not among the options offered")
		}
	}
	p.Stanzas = st.Values
	mine, _ := offer.Value("rekey_freq")
	theirs, ok := ans.Value("rekey_freq")
	if !ok {
		return p, malformed("rekey_freq", "missing")
	}
	a, err := parseRekey(mine)
	if err != nil {
		return p, err
	}
	if p.RekeyFreq, err = parseRekey(theirs); err != nil {
		return p, err
	}
	if p.RekeyFreq < a {
		return p, unsupported("rekey_freq", "below the value offered")
	}
	if ans.Field("dhhashes") != nil {
		return p, malformed("dhhashes", "not allowed in an offline answer")
	}
	return p, nil
}
