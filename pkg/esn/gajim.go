package esn

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"

	"github.com/esn-project/esn/pkg/crypt"
)

// This file holds the form shapes and selection rules of the gajim
// profile ([ProfileGajim]); gajim_negotiate.go runs the negotiation. The
// facts are those of the guide's gajim-compat.md, read from Gajim 1.0.3
// (gajim/common/stanza_session.py). The cryptographic deviations live in
// crypt.GajimSuite.

// gajimGroups are the MODP groups Gajim offers by default, in its order.
var gajimGroups = [...]int{15, 16, 14}

// GajimThreadIDLen is the length of Gajim's thread ids.
const GajimThreadIDLen = 32

// ErrProfileMismatch is wrapped when the peer's messages show that it
// follows another profile than ours (a XEP peer talking to the gajim
// profile, or the reverse). The two profiles derive different keys from
// the same exchange, so they must not proceed: the negotiation fails with
// this error instead of producing a session that cannot decrypt.
var ErrProfileMismatch = errors.New("esn: the peer follows another negotiation profile")

// ErrProfileFeature is returned when the preferences ask the gajim profile
// for something Gajim cannot do: public-key authentication or an other
// shared secret.
var ErrProfileFeature = errors.New("esn: not available under the gajim profile")

func mismatch(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrProfileMismatch, fmt.Sprintf(format, args...))
}

const gajimLetters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

// NewGajimThreadID returns a thread id as Gajim draws them: 32 random
// ASCII letters (about 182 bits), uniformly chosen by rejection sampling
// from r (a CSPRNG).
func NewGajimThreadID(r io.Reader) (string, error) {
	out := make([]byte, 0, GajimThreadIDLen)
	var buf [GajimThreadIDLen]byte
	for len(out) < GajimThreadIDLen {
		if _, err := io.ReadFull(r, buf[:]); err != nil {
			return "", fmt.Errorf("esn: thread id: %w", err)
		}
		for _, b := range buf {
			// 208 = 4 × 52: accept only bytes that map uniformly.
			if b < 208 && len(out) < GajimThreadIDLen {
				out = append(out, gajimLetters[b%52])
			}
		}
	}
	return string(out), nil
}

// newThreadID draws the thread id of a session we initiate: Gajim's form
// under the gajim profile, XEP-0201's otherwise.
func (m *Manager) newThreadID(opts InitiateOptions) (string, error) {
	p := m.prefs
	if opts.Preferences != nil {
		p = *opts.Preferences
	}
	if p.Profile == ProfileGajim {
		return NewGajimThreadID(m.cfg.Rand)
	}
	return NewThreadID(m.cfg.Rand)
}

// gajimSuite returns the Gajim suite, keeping the local policy (minimum
// group, exponent size, plaintext bound) of base.
func gajimSuite(base crypt.Suite) crypt.Suite {
	if base.Profile == crypt.ProfileGajim {
		return base
	}
	g := crypt.GajimSuite()
	g.MinGroup, g.Exponent, g.MaxData = base.MinGroup, base.Exponent, base.MaxData
	return g
}

// gajimField is a field as Gajim builds it without a type: nbxmpp's
// DataField then writes type='text-single'.
func gajimField(v string, values ...string) Field {
	return Field{Var: v, Type: "text-single", Values: values}
}

// gajimFixed are the fields Gajim's responder answers with a fixed value
// when the request offers it (verify_options_bob), in Gajim's list order.
var gajimFixed = [...]struct{ field, value string }{
	{"disclosure", DisclosureNever},
	{"security", SecurityE2E},
	{"crypt_algs", CipherAES128CTR},
	{"hash_algs", HashSHA256},
	{"compress", CompressNone},
	{"stanzas", "message"},
	{"init_pubkey", PubKeyNone},
	{"resp_pubkey", PubKeyNone},
	{"ver", Version10},
	{"sas_algs", SASAlg},
}

func gajimFixedValue(field string) (string, bool) {
	for _, f := range gajimFixed {
		if f.field == field {
			return f.value, true
		}
	}
	return "", false
}

// gajimParams are the parameters every gajim-profile session has; the
// negotiation fills in the group, logging and rekey_freq.
func gajimParams() Params {
	return Params{Profile: ProfileGajim, Cipher: CipherAES128CTR, Hash: HashSHA256, Compress: CompressNone,
		Stanzas: []string{"message"}, Version: Version10, RekeyFreq: RekeyNever, SAS: SASAlg,
		InitPubKey: PubKeyNone, RespPubKey: PubKeyNone, Disclosure: DisclosureNever, Security: SecurityE2E,
		LoggingField: "logging"}
}

// buildGajimRequest builds M1 as Gajim does: the logging field named
// "logging" with may/mustnot, the fixed algorithms as hidden values, ver
// 1.0, rekey_freq 4294967295 (Gajim never re-keys), the 8-octet my_nonce,
// the groups in p's order and one commitment per group.
func buildGajimRequest(p Preferences, na []byte, he [][]byte) *Form {
	f := NewForm(FormTypeForm)
	f.Add(Field{Var: "accept", Type: "boolean", Values: []string{"1"}, Required: true})
	var logOpts []Option
	for _, l := range p.Logging {
		logOpts = append(logOpts, Option{Value: l.String()})
	}
	f.Add(Field{Var: "logging", Type: "list-single", Options: logOpts, Required: true})
	f.Add(Field{Var: "disclosure", Type: "list-single", Options: opts([]string{DisclosureNever}), Required: true})
	f.Add(Field{Var: "security", Type: "list-single", Options: opts([]string{SecurityE2E}), Required: true})
	hidden := func(v, value string) Field { return Field{Var: v, Type: "hidden", Values: []string{value}} }
	f.Add(hidden("crypt_algs", CipherAES128CTR))
	f.Add(hidden("hash_algs", HashSHA256))
	f.Add(hidden("compress", CompressNone))
	f.Add(Field{Var: "stanzas", Type: "list-multi", Options: opts([]string{"message"})})
	f.Add(hidden("init_pubkey", PubKeyNone))
	f.Add(hidden("resp_pubkey", PubKeyNone))
	f.Add(hidden("ver", Version10))
	f.Add(hidden("rekey_freq", strconv.FormatUint(RekeyNever, 10)))
	f.Add(hidden("sas_algs", SASAlg))
	f.Add(hidden("my_nonce", crypt.EncodeBase64(na)))
	groups := make([]string, len(p.Groups))
	for i, g := range p.Groups {
		groups[i] = strconv.Itoa(g)
	}
	f.Add(Field{Var: "modp", Type: "list-single", Options: opts(groups)})
	hv := make([]string, len(he))
	for i, h := range he {
		hv[i] = crypt.EncodeBase64(h)
	}
	f.Add(Field{Var: "dhhashes", Type: "hidden", Values: hv})
	return f
}

// gajimSelect is the gajim responder's reading of M1 (Gajim's
// verify_options_bob and respond_e2e_bob): the initiator's first group and
// first rekey_freq, the fixed value of each fixed field it offers, the
// first of our logging preferences it offers. A 3-message request is
// answered feature-not-implemented; a request without a "logging" field
// comes from a XEP-0217 peer and fails with [ErrProfileMismatch].
func gajimSelect(p Preferences, f *Form) (*request, *NegotiationError) {
	const step = "request"
	if f.Field("dhkeys") != nil {
		return nil, negFail(step, CondFeatureNotImplemented,
			fmt.Errorf("%w: 3-message negotiation", ErrProfileFeature), "dhkeys")
	}
	if f.Field("logging") == nil {
		why := "the request has no logging field"
		if f.Field("otr") != nil {
			why = "the request names the logging field otr (XEP-0217); Gajim names it logging"
		}
		return nil, negFail(step, CondNotAcceptable, mismatch("%s", why), "logging")
	}
	var bad []string
	r := &request{params: gajimParams()}

	offered := choices(f.Field("logging"))
	found := false
	for _, want := range p.Logging {
		if slices.Contains(offered, want.String()) {
			r.params.Logging, found = want, true
			break
		}
	}
	if !found {
		bad = append(bad, "logging")
	}
	for _, fx := range gajimFixed {
		if fl := f.Field(fx.field); fl != nil && !slices.Contains(choices(fl), fx.value) {
			bad = append(bad, fx.field)
		}
	}
	if fl := f.Field("rekey_freq"); fl != nil {
		c := choices(fl)
		if len(c) == 0 {
			bad = append(bad, "rekey_freq")
		} else if v, err := parseRekeyFreq(c[0]); err != nil {
			bad = append(bad, "rekey_freq")
		} else {
			r.params.RekeyFreq = v
		}
	}
	groups := choices(f.Field("modp"))
	if len(groups) == 0 || len(groups) > maxGroupsOffered {
		bad = append(bad, "modp")
	} else if g, err := strconv.Atoi(groups[0]); err != nil || !slices.Contains(p.Groups, g) || !supportedGroup(g) {
		// Gajim takes the first group whatever follows: so do we, or fail.
		bad = append(bad, "modp")
	} else {
		r.params.Group = g
	}
	if dh := f.Field("dhhashes"); dh == nil || len(dh.Values) != len(groups) || len(groups) == 0 {
		bad = append(bad, "dhhashes")
	} else {
		for _, v := range dh.Values {
			if b, err := crypt.DecodeBase64("dhhashes", v, hashLen); err != nil || len(b) != hashLen {
				bad = append(bad, "dhhashes")
				break
			}
		}
		r.he, _ = crypt.DecodeBase64("dhhashes", dh.Values[0], hashLen)
	}
	if fl := f.Field("my_nonce"); fl == nil || len(fl.Values) != 1 {
		bad = append(bad, "my_nonce")
	} else if na, err := crypt.DecodeBase64("my_nonce", fl.Values[0], maxNonceLen); err != nil || len(na) < minNonceLen {
		bad = append(bad, "my_nonce")
	} else {
		r.na = na
	}
	if len(bad) > 0 {
		slices.Sort(bad)
		return nil, negFail(step, CondNotAcceptable, errors.New("no acceptable option (gajim profile)"), slices.Compact(bad)...)
	}
	// The answer, after FORM_TYPE and accept: the negotiated fields in the
	// request's order (Gajim answers only what was offered).
	for _, fl := range f.Fields {
		switch fl.Var {
		case "logging":
			r.answer = append(r.answer, gajimField("logging", r.params.Logging.String()))
		case "rekey_freq":
			r.answer = append(r.answer, gajimField("rekey_freq", strconv.FormatUint(uint64(r.params.RekeyFreq), 10)))
		default:
			if v, ok := gajimFixedValue(fl.Var); ok {
				r.answer = append(r.answer, gajimField(fl.Var, v))
			}
		}
	}
	return r, nil
}

// gajimCheckResponse is the gajim initiator's check of M2. Beyond what
// every option must satisfy (offered, single-valued), it recognises a
// responder that is not Gajim-shaped: Gajim answers accept with "true" and
// always takes the first offered group; a XEP responder answers "1" and
// chooses by its own preferences. Such a response fails with
// [ErrProfileMismatch].
func gajimCheckResponse(p Preferences, offer, resp *Form) (Params, *NegotiationError) {
	const step = "response"
	par := gajimParams()
	fail := func(err error, fields ...string) (Params, *NegotiationError) {
		return par, negFail(step, CondNotAcceptable, err, fields...)
	}
	if v, _ := resp.Value("accept"); v != "true" {
		return fail(mismatch("the responder answered accept=%q; a Gajim responder answers \"true\"", truncate(v)), "accept")
	}
	offered := choices(offer.Field("modp"))
	mv, _ := resp.Value("modp")
	if mf := resp.Field("modp"); mf == nil || len(mf.Values) != 1 || !slices.Contains(offered, mv) {
		return fail(errors.New("modp is not one of the offered groups"), "modp")
	}
	if mv != offered[0] {
		return fail(mismatch("the responder chose group %s, not the first offered (%s); a Gajim responder takes the first", mv, offered[0]), "modp")
	}
	par.Group, _ = strconv.Atoi(mv)
	var bad []string
	one := func(v string) (string, bool) {
		fl := resp.Field(v)
		if fl == nil || len(fl.Values) != 1 || len(fl.Options) != 0 {
			return "", false
		}
		return fl.Values[0], true
	}
	if lv, ok := one("logging"); !ok {
		if resp.Field("otr") != nil {
			return fail(mismatch("the responder answered the otr field (XEP-0217)"), "otr")
		}
		bad = append(bad, "logging")
	} else {
		l, ok := loggingValue("logging", lv)
		if !ok || (lv != "may" && lv != "mustnot") || !slices.Contains(p.Logging, l) {
			bad = append(bad, "logging")
		}
		par.Logging = l
	}
	for _, fx := range gajimFixed {
		if resp.Field(fx.field) == nil {
			continue // Gajim answers only what was offered; we offered them all
		}
		if v, ok := one(fx.field); !ok || v != fx.value {
			bad = append(bad, fx.field)
		}
	}
	if rv, ok := one("rekey_freq"); ok {
		if v, err := parseRekeyFreq(rv); err != nil || v != RekeyNever {
			bad = append(bad, "rekey_freq")
		}
	} else if resp.Field("rekey_freq") != nil {
		bad = append(bad, "rekey_freq")
	}
	for _, v := range []string{"dhhashes", "sign_algs"} {
		if resp.Field(v) != nil {
			bad = append(bad, v)
		}
	}
	if len(bad) > 0 {
		slices.Sort(bad)
		return fail(errors.New("peer chose options we did not offer"), slices.Compact(bad)...)
	}
	return par, nil
}

// gajimAlt keeps what the gajim responder needs to tell a XEP initiator
// from a forged one when mac_A fails: the XEP normalizations of M1 and M2.
type gajimAlt struct {
	xepFormA, xepFormB []byte
}
