package esn

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strconv"

	"github.com/esn-project/esn/pkg/crypt"
)

// Input bounds of digest §8.6.
const (
	maxGroupsOffered = 10
	maxRSHashes      = 32
	minNonceLen      = 8
	maxNonceLen      = 64
	maxCounterLen    = 16
	hashLen          = 32 // sha256, the only hash this package implements
)

// rshashes fillers: XEP-0116 §4.6 "plus a few random values" (D-8).
const rsFillers = 2

// buildRequest builds M1, the ESession request form of XEP-0116 §4.3 /
// XEP-0217 §4.1, 4-message variant: the options of p in preference order,
// my_nonce = na and dhhashes = he (one per group of p.Groups, same order).
func buildRequest(p Preferences, na []byte, he [][]byte) *Form {
	f := NewForm(FormTypeForm)
	f.Add(Field{Var: "accept", Type: "boolean", Values: []string{"1"}, Required: true})
	logField := "logging"
	if p.Profile == ProfileXEP0217 {
		logField = "otr"
	}
	var logOpts []Option
	for _, l := range p.Logging {
		logOpts = append(logOpts, Option{Value: loggingWire(logField, l, false)})
	}
	f.Add(Field{Var: logField, Type: "list-single", Options: logOpts, Required: true})
	f.Add(Field{Var: "disclosure", Type: "list-single", Options: opts(p.AcceptDisclosure), Required: true})
	sec := p.security
	if len(sec) == 0 {
		sec = []string{SecurityE2E}
	}
	f.Add(Field{Var: "security", Type: "list-single", Options: opts(sec), Required: true})
	groups := make([]string, len(p.Groups))
	for i, g := range p.Groups {
		groups[i] = strconv.Itoa(g)
	}
	f.Add(Field{Var: "modp", Type: "list-single", Options: opts(groups)})
	fixedOrList := func(v string, list []string) Field {
		if p.Profile == ProfileXEP0217 {
			return Field{Var: v, Type: "hidden", Values: list[:1]}
		}
		return Field{Var: v, Type: "list-single", Options: opts(list)}
	}
	f.Add(fixedOrList("crypt_algs", p.Ciphers))
	f.Add(fixedOrList("hash_algs", p.Hashes))
	f.Add(fixedOrList("compress", []string{CompressNone}))
	f.Add(Field{Var: "stanzas", Type: "list-multi", Options: opts(p.Stanzas)})
	f.Add(fixedOrList("init_pubkey", []string{PubKeyNone}))
	f.Add(fixedOrList("resp_pubkey", []string{PubKeyNone}))
	f.Add(Field{Var: "ver", Type: "list-single", Options: opts(p.Versions)})
	rk := strconv.FormatUint(uint64(p.RekeyFreq), 10)
	if p.Profile == ProfileXEP0217 {
		f.Add(Field{Var: "rekey_freq", Type: "hidden", Values: []string{rk}})
	} else {
		f.Add(Field{Var: "rekey_freq", Type: "text-single", Values: []string{rk}})
	}
	f.Add(Field{Var: "my_nonce", Type: "hidden", Values: []string{crypt.EncodeBase64(na)}})
	f.Add(fixedOrList("sas_algs", []string{SASAlg}))
	hv := make([]string, len(he))
	for i, h := range he {
		hv[i] = crypt.EncodeBase64(h)
	}
	f.Add(Field{Var: "dhhashes", Type: "hidden", Values: hv})
	return f
}

func opts(vs []string) []Option {
	out := make([]Option, len(vs))
	for i, v := range vs {
		out[i] = Option{Value: v}
	}
	return out
}

// choices returns what a field of a request offers: its options, or, for a
// fixed (hidden) field, its values. XEP-0217 §4.1: a responder accepts the
// fixed value both as a <value/> and as an <option/>.
func choices(fl *Field) []string {
	if fl == nil {
		return nil
	}
	if len(fl.Options) > 0 {
		return fl.OptionValues()
	}
	return fl.Values
}

// pick returns the first of ours that the peer offered.
func pick(ours, offered []string) (string, bool) {
	for _, o := range ours {
		if slices.Contains(offered, o) {
			return o, true
		}
	}
	return "", false
}

// request is what the responder learns from M1.
type request struct {
	params   Params
	groupIdx int    // index of the chosen group among the modp options
	he       []byte // the commitment at groupIdx
	na       []byte // N_A
	answer   []Field
	boolLog  bool     // the logging field used true/false (XEP-0116 example vocabulary)
	three    bool     // SIGMA-I: the request carries dhkeys (sigmai.go)
	e        *big.Int // SIGMA-I: the initiator's e for the chosen group
}

// knownRequestFields are answered or consumed by selectRequest; any other
// field marked required makes the responder answer feature-not-implemented.
var knownRequestFields = []string{"FORM_TYPE", "accept", "otr", "logging", "disclosure", "security",
	"modp", "crypt_algs", "hash_algs", "sign_algs", "compress", "stanzas", "init_pubkey", "resp_pubkey",
	"ver", "rekey_freq", "my_nonce", "sas_algs", "dhhashes", "dhkeys", "multisession"}

// selectRequest validates M1 and selects the parameters by the responder's
// preferences (XEP-0116 §4.4, digest §5.4 and §8.7). The returned answer
// fields follow the request's order; my_nonce and dhkeys are placeholders
// the caller fills, and nonce and counter are appended by the caller.
func selectRequest(p Preferences, f *Form) (*request, *NegotiationError) {
	const step = "request"
	var bad []string
	fail := func(v string) { bad = append(bad, v) }
	r := &request{params: Params{Profile: p.Profile, Compress: CompressNone, SAS: SASAlg,
		InitPubKey: PubKeyNone, RespPubKey: PubKeyNone, Security: SecurityE2E, MacKeyBits128: p.MacKeyBits128}}

	// 3-message (SIGMA-I) needs public keys: p.keys (pubkey.go).
	if r.three = f.Field("dhkeys") != nil; r.three {
		if f.Field("dhhashes") != nil {
			return nil, negFail(step, CondNotAcceptable, errors.New("both dhkeys and dhhashes"), "dhkeys", "dhhashes")
		}
		if p.keys == nil || !p.keys.three {
			return nil, negFail(step, CondFeatureNotImplemented, errors.New("3-message negotiation needs public keys"), "dhkeys")
		}
		r.params.SAS = ""
	}
	var unknown []string
	for _, fl := range f.Fields {
		if fl.Required && !slices.Contains(knownRequestFields, fl.Var) {
			unknown = append(unknown, fl.Var)
		}
	}
	if len(unknown) > 0 {
		return nil, negFail(step, CondFeatureNotImplemented, errors.New("required fields not implemented"), unknown...)
	}

	// security: an ESession is e2e; esn never accepts a plain SSN (it
	// never falls back to plaintext).
	if fl := f.Field("security"); fl != nil && !slices.Contains(choices(fl), SecurityE2E) {
		fail("security")
	}
	// logging / otr (D-25): reuse the request's vocabulary.
	logField := ""
	for _, n := range []string{"otr", "logging"} {
		if f.Field(n) != nil {
			logField = n
			break
		}
	}
	r.params.LoggingField = logField
	r.params.Logging = LoggingMay
	if logField != "" {
		offered := choices(f.Field(logField))
		if logField == "logging" {
			for _, v := range offered {
				if v == "true" || v == "false" {
					r.boolLog = true
				}
			}
		}
		found := false
		for _, want := range p.Logging {
			for _, v := range offered {
				if l, ok := loggingValue(logField, v); ok && l == want {
					r.params.Logging = want
					found = true
					break
				}
			}
			if found {
				break
			}
		}
		if !found {
			fail(logField)
		}
	}
	r.params.Disclosure = p.Disclosure
	if fl := f.Field("disclosure"); fl != nil && !slices.Contains(choices(fl), p.Disclosure) {
		fail("disclosure")
	}

	// modp and the commitments at the same index (RSP-06).
	modp := f.Field("modp")
	groups := choices(modp)
	if len(groups) == 0 || len(groups) > maxGroupsOffered {
		fail("modp")
	} else {
		r.groupIdx = -1
		for _, want := range p.Groups {
			if i := slices.Index(groups, strconv.Itoa(want)); i >= 0 && supportedGroup(want) {
				r.groupIdx, r.params.Group = i, want
				break
			}
		}
		if r.groupIdx < 0 {
			fail("modp")
		}
	}
	dh := f.Field("dhhashes")
	switch {
	case r.three:
		r.e = parseDHKeys(f.Field("dhkeys"), len(groups), r.groupIdx, r.params.Group, fail)
	case dh == nil || len(dh.Values) != len(groups) || len(groups) == 0:
		fail("dhhashes")
	case r.groupIdx >= 0:
		for _, v := range dh.Values {
			b, err := crypt.DecodeBase64("dhhashes", v, hashLen)
			if err != nil || len(b) != hashLen {
				fail("dhhashes")
				break
			}
		}
		r.he, _ = crypt.DecodeBase64("dhhashes", dh.Values[r.groupIdx], hashLen)
	}

	sel := func(v string, ours []string, dst *string) {
		fl := f.Field(v)
		if fl == nil {
			fail(v)
			return
		}
		c, ok := pick(ours, choices(fl))
		if !ok {
			fail(v)
			return
		}
		*dst = c
	}
	sel("crypt_algs", p.Ciphers, &r.params.Cipher)
	sel("hash_algs", p.Hashes, &r.params.Hash)
	sel("compress", []string{CompressNone}, &r.params.Compress)
	if p.keys != nil {
		p.keys.selectKeys(f, r, fail)
	} else {
		sel("init_pubkey", []string{PubKeyNone}, &r.params.InitPubKey)
		sel("resp_pubkey", []string{PubKeyNone}, &r.params.RespPubKey)
	}
	sel("ver", p.Versions, &r.params.Version)
	if !r.three {
		sel("sas_algs", []string{SASAlg}, &r.params.SAS)
	} else if f.Field("sas_algs") != nil {
		fail("sas_algs") // XEP-0116 §4.3: no SAS in 3-message
	}
	if r.params.Cipher != "" && r.params.Hash != "" {
		if cipherKeyLen(r.params.Cipher) > hashOutLen(r.params.Hash) {
			fail("hash_algs") // KDF-03: the hash output must cover the key
		}
	}
	if fl := f.Field("stanzas"); fl == nil {
		fail("stanzas")
	} else {
		for _, s := range choices(fl) {
			if slices.Contains(p.Stanzas, s) && !slices.Contains(r.params.Stanzas, s) {
				r.params.Stanzas = append(r.params.Stanzas, s)
			}
		}
		if len(r.params.Stanzas) == 0 {
			fail("stanzas")
		}
	}
	if fl := f.Field("rekey_freq"); fl == nil || len(fl.Values) != 1 {
		fail("rekey_freq")
	} else if v, err := parseRekeyFreq(fl.Values[0]); err != nil {
		fail("rekey_freq")
	} else {
		r.params.RekeyFreq = max(v, p.RekeyFreq)
	}
	if fl := f.Field("my_nonce"); fl == nil || len(fl.Values) != 1 {
		fail("my_nonce")
	} else if na, err := crypt.DecodeBase64("my_nonce", fl.Values[0], maxNonceLen); err != nil || len(na) < minNonceLen {
		fail("my_nonce")
	} else {
		r.na = na
	}
	if len(bad) > 0 {
		slices.Sort(bad)
		bad = slices.Compact(bad)
		return nil, negFail(step, CondNotAcceptable, errors.New("no acceptable option"), bad...)
	}

	// The answer, in the request's order (XEP-0116 §4.4 "for every field").
	for _, fl := range f.Fields {
		var v []string
		switch fl.Var {
		case "FORM_TYPE":
			v = []string{NSSSN}
		case "accept":
			v = []string{"1"}
		case "otr", "logging":
			if fl.Var != logField {
				continue
			}
			v = []string{loggingWire(logField, r.params.Logging, r.boolLog)}
		case "disclosure":
			v = []string{r.params.Disclosure}
		case "security":
			v = []string{SecurityE2E}
		case "modp":
			v = []string{strconv.Itoa(r.params.Group)}
		case "crypt_algs":
			v = []string{r.params.Cipher}
		case "hash_algs":
			v = []string{r.params.Hash}
		case "compress":
			v = []string{r.params.Compress}
		case "stanzas":
			v = r.params.Stanzas
		case "init_pubkey":
			v = []string{r.params.InitPubKey}
		case "resp_pubkey":
			v = []string{r.params.RespPubKey}
		case "ver":
			v = []string{r.params.Version}
		case "rekey_freq":
			v = []string{strconv.FormatUint(uint64(r.params.RekeyFreq), 10)}
		case "my_nonce":
			v = nil // filled by the caller
		case "sas_algs":
			v = []string{r.params.SAS}
		case "sign_algs":
			if r.params.SignAlg == "" {
				continue
			}
			v = []string{r.params.SignAlg}
		case "dhhashes", "dhkeys":
			r.answer = append(r.answer, Field{Var: "dhkeys"}) // filled by the caller
			continue
		case "multisession":
			v = []string{"0"}
		default:
			continue
		}
		r.answer = append(r.answer, Field{Var: fl.Var, Values: v})
	}
	r.params.Profile = negotiatedProfile(f, r.params) // profile.go
	return r, nil
}

func parseRekeyFreq(s string) (uint32, error) {
	if s == "" || s[0] == '+' || s[0] == '-' {
		return 0, fmt.Errorf("rekey_freq %q", s)
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil || v < 1 || v > math.MaxUint32 {
		return 0, fmt.Errorf("rekey_freq %q", s)
	}
	return uint32(v), nil
}

// checkResponse is the initiator's check of M2 (XEP-0116 §4.5 "verify that
// every option was offered", digest §5.6 step 1): every choice was offered,
// stanzas is a non-empty subset, rekey_freq is at least ours. It returns
// the parameters; DH, nonce and counter checks are done by the caller.
func checkResponse(p Preferences, offer, resp *Form) (Params, *NegotiationError) {
	const step = "response"
	par := Params{Profile: p.Profile, MacKeyBits128: p.MacKeyBits128}
	var bad []string
	one := func(v string) (string, bool) {
		fl := resp.Field(v)
		if fl == nil || len(fl.Values) != 1 || len(fl.Options) != 0 {
			bad = append(bad, v)
			return "", false
		}
		c := fl.Values[0]
		if !slices.Contains(choices(offer.Field(v)), c) {
			bad = append(bad, v)
			return "", false
		}
		return c, true
	}
	if fl := resp.Field("dhhashes"); fl != nil {
		bad = append(bad, "dhhashes")
	}
	if s, ok := one("security"); ok && s != SecurityE2E {
		// A plain SSN accept: esn never falls back to plaintext.
		bad = append(bad, "security")
	} else {
		par.Security = s
	}
	for _, n := range []string{"otr", "logging"} {
		if offer.Field(n) == nil {
			continue
		}
		par.LoggingField = n
		if v, ok := one(n); ok {
			par.Logging, _ = loggingValue(n, v)
		}
	}
	par.Disclosure, _ = one("disclosure")
	if g, ok := one("modp"); ok {
		par.Group, _ = strconv.Atoi(g)
	}
	par.Cipher, _ = one("crypt_algs")
	par.Hash, _ = one("hash_algs")
	par.Compress, _ = one("compress")
	par.InitPubKey, _ = one("init_pubkey")
	par.RespPubKey, _ = one("resp_pubkey")
	par.Version, _ = one("ver")
	if offer.Field("sas_algs") != nil {
		par.SAS, _ = one("sas_algs")
	}
	if resp.Field("sign_algs") != nil || isKeyed(par.InitPubKey) || isKeyed(par.RespPubKey) {
		par.SignAlg, _ = one("sign_algs")
	}
	if fl := resp.Field("stanzas"); fl == nil || len(fl.Values) == 0 {
		bad = append(bad, "stanzas")
	} else {
		offered := choices(offer.Field("stanzas"))
		for _, s := range fl.Values {
			if !slices.Contains(offered, s) || slices.Contains(par.Stanzas, s) {
				bad = append(bad, "stanzas")
				break
			}
			par.Stanzas = append(par.Stanzas, s)
		}
	}
	if fl := resp.Field("rekey_freq"); fl == nil || len(fl.Values) != 1 {
		bad = append(bad, "rekey_freq")
	} else if v, err := parseRekeyFreq(fl.Values[0]); err != nil || v < p.RekeyFreq {
		bad = append(bad, "rekey_freq")
	} else {
		par.RekeyFreq = v
	}
	if par.Cipher != "" && par.Hash != "" && cipherKeyLen(par.Cipher) > hashOutLen(par.Hash) {
		bad = append(bad, "hash_algs")
	}
	if len(bad) > 0 {
		slices.Sort(bad)
		return par, negFail(step, CondNotAcceptable, errors.New("peer chose options we did not offer"), slices.Compact(bad)...)
	}
	par.Profile = negotiatedProfile(offer, par) // profile.go
	return par, nil
}

func supportedGroup(id int) bool {
	_, err := crypt.GroupByID(id)
	return err == nil
}

// cipherKeyLen returns the key length of a crypt_algs value, 0 if unknown.
func cipherKeyLen(name string) int {
	switch name {
	case CipherAES128CTR:
		return 16
	case CipherAES192CTR:
		return 24
	case CipherAES256CTR:
		return 32
	}
	return 0
}

// hashOutLen returns the output length of a hash_algs value, 0 if unknown.
func hashOutLen(name string) int {
	if name == HashSHA256 {
		return 32
	}
	return 0
}
