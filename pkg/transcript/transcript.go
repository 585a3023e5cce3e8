package transcript

import (
	"crypto/hmac"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"

	"github.com/esn-project/esn/pkg/crypt"
	"github.com/esn-project/esn/pkg/esn"
	"github.com/esn-project/esn/pkg/xmltree"
)

// Check says what is known about a [Value].
type Check int

const (
	// Info is a value shown for reference; there is nothing to check.
	Info Check = iota
	// OK is a value that was recomputed or checked and verifies.
	OK
	// Failed is a value that does not verify.
	Failed
	// NeedsKey is a value that could be checked with a secret the key log
	// does not hold.
	NeedsKey
)

var checkNames = [...]string{"info", "ok", "FAILED", "needs-key"}

func (c Check) String() string {
	if c >= 0 && int(c) < len(checkNames) {
		return checkNames[c]
	}
	return "Check(" + strconv.Itoa(int(c)) + ")"
}

// MarshalText encodes the check as its name, for JSON.
func (c Check) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// Value is one value derived or checked at a step. Values never hold
// private Diffie-Hellman values or keys.
type Value struct {
	Name  string `json:"name"`
	Value string `json:"value,omitempty"`
	Check Check  `json:"check"`
	Note  string `json:"note,omitempty"`
}

// Step is one stanza as the transcript understands it.
type Step struct {
	// N is the stanza's position among those added (1-based); Line the
	// capture line, when known.
	N      int    `json:"n"`
	Line   int    `json:"line,omitempty"`
	Dir    string `json:"dir,omitempty"`
	Thread string `json:"thread,omitempty"`
	From   string `json:"from,omitempty"`
	To     string `json:"to,omitempty"`
	// Kind is the stanza-session message: "request (M1)", "accept (M2)",
	// "complete (M3)", "identity (M4)", "decline", "cancel", "error",
	// "encrypted", "terminate", "terminate-ack", ..., or "other".
	Kind   string  `json:"kind"`
	Values []Value `json:"values,omitempty"`
	// Body is the decrypted <body/>; Decrypted all decrypted children.
	Body      string `json:"body,omitempty"`
	Decrypted string `json:"decrypted,omitempty"`
}

// Failed returns the first value of the step that did not verify.
func (s *Step) Failed() (Value, bool) {
	for _, v := range s.Values {
		if v.Check == Failed {
			return v, true
		}
	}
	return Value{}, false
}

func (s *Step) add(name, value string, c Check, note string) {
	s.Values = append(s.Values, Value{Name: name, Value: value, Check: c, Note: note})
}

func (s *Step) check(name, value string, ok bool, failNote string) {
	if ok {
		s.add(name, value, OK, "")
	} else {
		s.add(name, value, Failed, failNote)
	}
}

// Transcript follows the stanza sessions of a capture. It is not safe for
// concurrent use.
type Transcript struct {
	keys    *KeyLog
	known   []KnownKey // identity keys for method hash (identity.go)
	limits  esn.FormLimits
	n       int
	threads map[string]*session
	order   []string // threads in first-seen order, bounded
	failed  *Step
	failedV Value
}

// maxThreads bounds the sessions a transcript follows at once.
const maxThreads = 10000

// New returns a transcript that checks secret-dependent values with keys
// (nil: only public values are derived, as `esn --trace` does).
func New(keys *KeyLog) *Transcript {
	return &Transcript{keys: keys, threads: map[string]*session{}}
}

// FirstFailure returns the first step with a value that did not verify,
// and that value.
func (t *Transcript) FirstFailure() (Step, Value, bool) {
	if t.failed == nil {
		return Step{}, Value{}, false
	}
	return *t.failed, t.failedV, true
}

// session is what the transcript knows of one thread. It holds public
// values, and the session secrets only when they came from the key log.
type session struct {
	initiator, responder string

	offer  *esn.Form
	formA  []byte
	na     []byte
	groups []string
	he     [][]byte
	// The 3-message (SIGMA-I) variant: M1 carries every e (eWire, one per
	// offered group) instead of the hash commitments (sigmai.go).
	three bool
	eWire []string

	suite  crypt.Suite
	group  *crypt.Group
	params map[string]string
	formB  []byte
	nb     []byte
	d      *big.Int
	ca, cb crypt.Counter
	accept bool

	e      *big.Int
	idA    []byte
	mA     []byte
	sasVal string

	// 3-message: C_B after ID_B, and the logged K that verified M_B (a
	// key log secret; the traffic keys derive from it).
	cbAfter crypt.Counter
	idB     []byte
	k3      []byte

	dirs  [2]*direction // [0] initiator -> responder, [1] back (rekey.go)
	ended bool
}

// Add consumes the next stanza of the capture and describes it. dir is
// "SEND", "RECV" or "".
func (t *Transcript) Add(dir string, st *xmltree.Element) Step {
	return t.add(Step{Dir: dir}, st)
}

// AddRecord is Add for a record of [ReadCapture]; the step keeps its line.
func (t *Transcript) AddRecord(r Record) Step {
	return t.add(Step{Dir: r.Dir, Line: r.Line}, r.Stanza)
}

func (t *Transcript) add(step Step, st *xmltree.Element) Step {
	t.n++
	step.N = t.n
	if st == nil {
		step.Kind = "other"
		return step
	}
	step.From, step.To = st.Attribute("from"), st.Attribute("to")
	t.describe(&step, st)
	if v, ok := step.Failed(); ok && t.failed == nil {
		s := step
		t.failed, t.failedV = &s, v
	}
	return step
}

func (t *Transcript) describe(step *Step, st *xmltree.Element) {
	if st.Name.Local != "message" {
		step.Kind = "other"
		return
	}
	var wrapper, c *xmltree.Element
	threads := 0
	for _, ch := range st.Children() {
		switch {
		case ch.Name.Local == "thread" && (ch.Name.Space == esn.NSClient || ch.Name.Space == ""):
			threads++
			step.Thread = ch.Text()
		case ch.Name.Space == esn.NSC && ch.Name.Local == "c":
			c = ch
		case ch.Name.Space == esn.NSFeatureNeg && ch.Name.Local == "feature",
			ch.Name.Space == esn.NSInit && ch.Name.Local == "init":
			wrapper = ch
		}
	}
	if threads != 1 || step.Thread == "" {
		step.Kind = "other"
		if st.Child("", "body") != nil {
			step.add("body", "", Info, "a message outside any stanza session (plain text)")
		}
		return
	}
	s := t.threads[step.Thread]
	if st.Attribute("type") == "error" {
		step.Kind = "error"
		if e := st.Child("", "error"); e != nil {
			for _, ch := range e.Children() {
				if ch.Name.Space == esn.NSStanzas && ch.Name.Local != "text" {
					step.add("condition", ch.Name.Local, Info, "")
				}
				if ch.Name.Space == esn.NSFeatureNeg && ch.Name.Local == "feature" {
					var fields []string
					for _, fl := range ch.Children() {
						fields = append(fields, fl.Attribute("var"))
					}
					step.add("fields", strings.Join(fields, " "), Info, "the offending form fields")
				}
			}
		}
		if s != nil {
			s.ended = true
		}
		return
	}
	if wrapper == nil {
		if c == nil {
			step.Kind = "other"
			if s != nil && s.dirs[0] != nil && st.Child("", "body") != nil {
				step.add("body", "", Failed, "clear text inside an encrypted session")
			}
			return
		}
		step.Kind = "encrypted"
		if s == nil {
			step.add("thread", step.Thread, NeedsKey, "no negotiation of this thread in the capture")
			return
		}
		t.encrypted(step, s, st, c)
		return
	}
	kind, f, err := classify(wrapper, t.limits)
	step.Kind = kind
	if err != nil {
		step.add("form", "", Failed, err.Error())
		return
	}
	switch kind {
	case "request (M1)":
		t.request(step, st, f)
	case "accept (M2)", "decline", "complete (M3)", "cancel", "identity (M4)":
		if s == nil {
			step.add("thread", step.Thread, Info, "the request of this thread is not in the capture")
			return
		}
		switch kind {
		case "accept (M2)":
			t.accept(step, s, st, f)
		case "decline", "cancel":
			if r, ok := f.Value("reason"); ok {
				step.add("reason", strconv.Quote(r), Info, "")
			}
			s.ended = true
		case "complete (M3)":
			if s.three {
				t.complete3(step, s, f)
				if c != nil {
					t.encrypted(step, s, st, c)
				}
				break
			}
			t.complete(step, s, f)
		case "identity (M4)":
			if s.three {
				step.add("identity", "", Failed, "an identity message (M4) in a 3-message negotiation")
				return
			}
			t.identity(step, s, f)
			if c != nil {
				t.encrypted(step, s, st, c)
			}
		}
	default:
		step.add("form", kind, Info, "a clear-text session form (terminate and its acknowledgement must be encrypted inside an ESession)")
	}
}

// classify names the stanza-session message a wrapper carries (digest
// §2.1).
func classify(w *xmltree.Element, lim esn.FormLimits) (string, *esn.Form, error) {
	var x *xmltree.Element
	for _, c := range w.Children() {
		if c.Name.Space == esn.NSData && c.Name.Local == "x" && x == nil {
			x = c
		} else {
			return "form", nil, fmt.Errorf("unexpected <%s/> in <%s/>", c.Name.Local, w.Name.Local)
		}
	}
	if x == nil {
		return "form", nil, errors.New("no data form")
	}
	f, err := esn.ParseForm(x, lim)
	if err != nil {
		return "form", nil, err
	}
	if f.FormType() != esn.NSSSN {
		return "form", f, fmt.Errorf("FORM_TYPE %q is not %s", f.FormType(), esn.NSSSN)
	}
	if w.Name.Space == esn.NSInit {
		return "identity (M4)", f, nil
	}
	bv := func(v string) (val, present bool) {
		s, ok := f.Value(v)
		if !ok {
			return false, false
		}
		b, _ := esn.ParseBool(s)
		return b, true
	}
	accept, hasAccept := bv("accept")
	_, hasReneg := bv("renegotiate")
	term, hasTerm := bv("terminate")
	_, hasCont := f.Value("continue")
	switch f.Type {
	case esn.FormTypeForm:
		switch {
		case hasAccept && !hasReneg:
			return "request (M1)", f, nil
		case hasReneg:
			return "renegotiate", f, nil
		}
	case esn.FormTypeSubmit:
		switch {
		case hasTerm && term:
			return "terminate", f, nil
		case hasCont:
			return "continue", f, nil
		case hasReneg:
			return "renegotiate-reply", f, nil
		case hasAccept && accept:
			return "accept (M2)", f, nil
		case hasAccept:
			return "decline", f, nil
		}
	case esn.FormTypeResult:
		switch {
		case hasTerm && term:
			return "terminate-ack", f, nil
		case hasCont:
			return "continue-ack", f, nil
		case hasAccept && accept:
			return "complete (M3)", f, nil
		case hasAccept:
			return "cancel", f, nil
		}
	}
	return "form", f, fmt.Errorf("%s form is no stanza-session message", f.Type)
}

func (t *Transcript) request(step *Step, st *xmltree.Element, f *esn.Form) {
	if old := t.threads[step.Thread]; old != nil {
		step.add("thread", step.Thread, Failed, "a second request for a thread already negotiated (replay?)")
		return
	}
	if len(t.threads) >= maxThreads {
		// Forget the sessions that ended (a long esn receive --trace).
		for th, s := range t.threads {
			if s.ended {
				delete(t.threads, th)
			}
		}
	}
	if len(t.threads) >= maxThreads {
		step.add("thread", step.Thread, Info, "too many open sessions in the capture; not followed")
		return
	}
	s := &session{initiator: st.Attribute("from"), offer: f, params: map[string]string{}}
	t.threads[step.Thread] = s
	s.formA = esn.NormContent(f.Element())
	profile := "xep0116 (logging field)"
	if f.Field("otr") != nil {
		profile = "xep0217 (otr field)"
	}
	step.add("profile", profile, Info, "")
	s.groups = choices(f.Field("modp"))
	step.add("modp offered", strings.Join(s.groups, " "), Info, "")
	for _, v := range []string{"crypt_algs", "hash_algs", "sign_algs", "stanzas", "init_pubkey", "resp_pubkey", "ver", "rekey_freq", "otr", "logging", "disclosure", "security", "sas_algs"} {
		if fl := f.Field(v); fl != nil {
			step.add(v, strings.Join(choices(fl), " "), Info, "")
		}
	}
	na, err := oneB64(f, "my_nonce", 64)
	s.na = na
	step.check("N_A (my_nonce)", b64(na), err == nil && len(na) >= 8, fmt.Sprint("want 8 to 64 bytes: ", err))
	if f.Field("dhkeys") != nil {
		t.request3(step, s, f)
		return
	}
	hs := f.Field("dhhashes")
	if hs == nil {
		step.add("dhhashes", "", Failed, "missing")
		return
	}
	for i, v := range hs.Values {
		h, err := crypt.DecodeBase64("dhhashes", v, 64)
		s.he = append(s.he, h)
		name := "He"
		if i < len(s.groups) {
			name = "He[" + s.groups[i] + "]"
		}
		step.check(name, v, err == nil && len(h) == 32, "want a SHA-256 value")
	}
	if len(hs.Values) != len(s.groups) {
		step.add("dhhashes", strconv.Itoa(len(hs.Values)), Failed, "one commitment per offered group is required")
	}
}

func (t *Transcript) accept(step *Step, s *session, st *xmltree.Element, f *esn.Form) {
	if s.accept {
		step.add("accept", "", Failed, "a second accept for this thread (replay?)")
		return
	}
	s.accept = true
	s.responder = st.Attribute("from")
	if s.three {
		// form_B excludes Bob's identity proof (digest §5.5).
		s.formB = esn.NormContent(f.Element(), "identity", "mac")
	} else {
		s.formB = esn.NormContent(f.Element())
	}
	for _, v := range []string{"modp", "crypt_algs", "hash_algs", "sign_algs", "compress", "stanzas", "ver", "rekey_freq", "otr", "logging", "disclosure", "security", "sas_algs", "init_pubkey", "resp_pubkey"} {
		fl := f.Field(v)
		if fl == nil {
			continue
		}
		val := strings.Join(fl.Values, " ")
		s.params[v] = val
		offer := s.offer.Field(v)
		switch {
		case offer == nil:
			step.add(v, val, Failed, "chosen although not offered")
		case v == "rekey_freq":
			step.add(v, val, Info, "")
		default:
			ok := len(fl.Values) > 0
			for _, x := range fl.Values {
				ok = ok && slices.Contains(choices(offer), x)
			}
			step.check(v, val, ok, "not among the offered options (XEP-0116 §4.5)")
		}
	}
	cipher, hash := orDefault(s.params["crypt_algs"], esn.CipherAES128CTR), orDefault(s.params["hash_algs"], esn.HashSHA256)
	suite, err := crypt.XEPSuite().WithAlgorithms(cipher, hash)
	if err != nil {
		step.add("crypt_algs/hash_algs", cipher+" "+hash, Failed, err.Error())
		return
	}
	s.suite = suite
	gid, _ := strconv.Atoi(s.params["modp"])
	g, err := crypt.GroupByID(gid)
	if err != nil {
		step.add("group", s.params["modp"], Failed, err.Error())
		return
	}
	s.group = g
	s.suite.MinGroup = min(gid, crypt.DefaultMinGroup)
	step.add("group", g.String(), Info, fmt.Sprintf("%d-bit MODP group", g.Bits()))
	na, err := oneB64(f, "nonce", 64)
	step.check("N_A echoed (nonce)", b64(na), err == nil && hmac.Equal(na, s.na), "does not match the request's my_nonce")
	nb, err := oneB64(f, "my_nonce", 64)
	s.nb = nb
	step.check("N_B (my_nonce)", b64(nb), err == nil && len(nb) >= 8 && !hmac.Equal(nb, s.na), "want 8 to 64 bytes, different from N_A")
	cv, _ := f.Value("counter")
	ca, err := crypt.ParseCounter(cv)
	if err != nil {
		step.add("C_A (counter)", cv, Failed, err.Error())
	} else {
		s.ca, s.cb = ca, ca.Peer()
		step.add("C_A (counter)", ca.String(), Info, "")
		step.add("C_B = C_A xor 2^127", s.cb.String(), Info, "")
	}
	dk := f.Field("dhkeys")
	if dk == nil || len(dk.Values) != 1 {
		step.add("d (dhkeys)", "", Failed, "must hold one value")
		return
	}
	d, err := g.ParsePublic("dhkeys", dk.Values[0])
	if err == nil {
		s.d = d
	}
	step.check("d (dhkeys)", bigSummary(d, dk.Values[0]), err == nil, fmt.Sprint("1 < d < p-1 fails: ", err))
	if err != nil {
		return
	}
	t.checkKeyMethods(step, s)
	if s.three {
		t.accept3(step, s, f)
		return
	}
	step.add("HASH(d)", b64(crypt.HashCommitment(d)), Info, "")
}

// checkKeyMethods checks the public-key choices of M2: sign_algs is chosen
// when a party identifies with a key (XEP-0116 §4.4 step 3), and the
// 3-message variant never uses none.
func (t *Transcript) checkKeyMethods(step *Step, s *session) {
	im, rm := s.params["init_pubkey"], s.params["resp_pubkey"]
	keyed := func(m string) bool { return m == esn.PubKeyKey || m == esn.PubKeyHash }
	if s.three && (!keyed(im) || !keyed(rm)) {
		step.add("init_pubkey/resp_pubkey", orDefault(im, "-")+" "+orDefault(rm, "-"), Failed,
			"the 3-message negotiation identifies both parties with public keys: key or hash, never none (XEP-0116 §4.4 step 3)")
		return
	}
	if (keyed(im) || keyed(rm)) && s.params["sign_algs"] != esn.SignRSASHA256 {
		step.add("sign_algs", s.params["sign_algs"], Failed, "a party identifies with a key but rsa-sha256 was not chosen")
		return
	}
	if keyed(im) || keyed(rm) {
		auth := "public keys: initiator " + orDefault(im, esn.PubKeyNone) + ", responder " + orDefault(rm, esn.PubKeyNone)
		if s.three {
			auth += "; 3-message (SIGMA-I), no SAS"
		}
		step.add("authentication", auth, Info, "")
	}
}

func (t *Transcript) complete(step *Step, s *session, f *esn.Form) {
	if s.group == nil {
		step.add("thread", "", Info, "the accept of this thread is not in the capture")
		return
	}
	if s.e != nil {
		step.add("complete", "", Failed, "a second completion for this thread (replay?)")
		return
	}
	nb, err := oneB64(f, "nonce", 64)
	step.check("N_B echoed (nonce)", b64(nb), err == nil && hmac.Equal(nb, s.nb), "does not match the accept's my_nonce")
	dk := f.Field("dhkeys")
	if dk == nil || len(dk.Values) != 1 {
		step.add("e (dhkeys)", "", Failed, "must hold one value")
		return
	}
	e, err := crypt.DecodeInteger("dhkeys", dk.Values[0], s.group.ByteLen())
	if err != nil {
		step.add("e (dhkeys)", "", Failed, err.Error())
		return
	}
	s.e = e
	idx := slices.Index(s.groups, s.params["modp"])
	if idx >= 0 && idx < len(s.he) {
		step.check("HASH(e) = He["+s.params["modp"]+"]", b64(crypt.HashCommitment(e)), crypt.VerifyCommitment(s.he[idx], e),
			"e does not match its hash commitment in the request (XEP-0116 §4.7 step 1)")
	} else {
		step.add("HASH(e)", b64(crypt.HashCommitment(e)), Failed, "no commitment for the chosen group in the request")
	}
	verr := s.group.Validate(e)
	step.check("e (dhkeys)", bigSummary(e, dk.Values[0]), verr == nil, fmt.Sprint("1 < e < p-1 fails: ", verr))
	if fl := f.Field("rshashes"); fl != nil {
		step.add("rshashes", strconv.Itoa(len(fl.Values))+" values", Info, "HMAC(N_A, RS) per retained secret, plus random fillers")
	}
	idA, err1 := oneB64(f, "identity", 4096)
	mA, err2 := oneB64(f, "mac", 64)
	if err1 != nil || err2 != nil {
		step.add("identity/mac", "", Failed, fmt.Sprint(errors.Join(err1, err2)))
		return
	}
	s.idA, s.mA = idA, mA
	step.add("ID_A (identity)", fmt.Sprintf("%d bytes", len(idA)), Info, "")
	step.add("M_A (mac)", b64(mA), Info, "")
	formA2 := esn.NormContent(f.Element(), "identity", "mac")
	s.sasVal = s.suite.SAS(mA, s.formB)
	step.add("SAS", s.sasVal, Info, "HASH(M_A | form_B | \"Short Authentication String\"), compare out of band")

	ks := t.keys.Secrets(step.Thread, esn.KeyLogNegotiation)
	if len(ks) == 0 {
		step.add("M_A, mac_A", "", NeedsKey, "needs ESN_K for this thread in the key log")
		return
	}
	o, ok := s.openIdentity(ks, crypt.Initiator, s.ca, idA, mA)
	if !ok {
		step.add("M_A = HMAC(KM_A, C_A | ID_A)", b64(mA), Failed, "does not verify with the logged K")
		return
	}
	defer o.a.Erase()
	defer o.b.Erase()
	step.add("M_A = HMAC(KM_A, C_A | ID_A)", b64(mA), OK, "identity MAC, provisory keys from K")
	t.proof(step, s, partyA, o.plain, func(pubKey []byte) []byte {
		return s.suite.MacA(o.a.SIGMA, s.na, s.nb, e, pubKey, s.formA, formA2)
	})
}

func (t *Transcript) identity(step *Step, s *session, f *esn.Form) {
	if s.e == nil {
		step.add("thread", "", Info, "the completion of this thread is not in the capture")
		return
	}
	if s.dirs[1] != nil {
		step.add("identity", "", Failed, "a second identity message for this thread (replay?)")
		return
	}
	na, err := oneB64(f, "nonce", 64)
	step.check("N_A echoed (nonce)", b64(na), err == nil && hmac.Equal(na, s.na), "does not match the request's my_nonce")
	if v, ok := f.Value("srshash"); ok {
		step.add("srshash", v, Info, "HMAC(SRS, \"Shared Retained Secret\"), or random when no secret was shared")
	}
	idB, err1 := oneB64(f, "identity", 4096)
	mB, err2 := oneB64(f, "mac", 64)
	if err1 != nil || err2 != nil {
		step.add("identity/mac", "", Failed, fmt.Sprint(errors.Join(err1, err2)))
		return
	}
	step.add("M_B (mac)", b64(mB), Info, "")
	formB2 := esn.NormContent(f.Element(), "identity", "mac")
	kfs := t.keys.Secrets(step.Thread, esn.KeyLogFinal)
	if len(kfs) == 0 {
		step.add("M_B, mac_B", "", NeedsKey, "needs ESN_KFINAL for this thread in the key log")
		return
	}
	o, ok := s.openIdentity(kfs, crypt.Responder, s.cb, idB, mB)
	if !ok {
		step.add("M_B = HMAC(KM_B, C_B | ID_B)", b64(mB), Failed, "does not verify with the logged K_final")
		return
	}
	step.add("M_B = HMAC(KM_B, C_B | ID_B)", b64(mB), OK, "identity MAC, final keys from K_final")
	t.proof(step, s, partyB, o.plain, func(pubKey []byte) []byte {
		return s.suite.MacB(o.b.SIGMA, s.na, s.nb, s.d, pubKey, s.formB, formB2)
	})
	// The directions keep the keys.
	ca := s.ca.Add(identityBlocks(s, s.idA))
	s.dirs[0] = s.newDirection(o.a, ca)
	s.dirs[1] = s.newDirection(o.b, o.after)
	step.add("C_A, C_B after the identities", ca.String()+" "+o.after.String(), Info, "the first stanza counters")
}

func (t *Transcript) encrypted(step *Step, s *session, st *xmltree.Element, c *xmltree.Element) {
	dir := 0
	from := st.Attribute("from")
	if from != s.initiator && (s.responder == from || bare(from) != bare(s.initiator)) {
		dir = 1
	}
	who := [2]string{"initiator -> responder", "responder -> initiator"}[dir]
	op, ok := t.open(step, s, dir, who, c)
	if !ok {
		return
	}
	var parts []string
	for _, ch := range op.Children {
		parts = append(parts, ch.String())
		if ch.Name.Space == esn.NSFeatureNeg && ch.Name.Local == "feature" {
			k, f, err := classify(ch, t.limits)
			if err == nil {
				step.Kind = k + " (encrypted)"
				if k == "terminate-ack" || k == "terminate" {
					if k == "terminate-ack" {
						s.ended = true
					}
				}
				if r, ok := f.Value("reason"); ok {
					step.add("reason", strconv.Quote(r), Info, "")
				}
			}
			continue
		}
		if ch.Name.Local == "body" {
			step.Body = ch.Text()
		}
	}
	step.Decrypted = strings.Join(parts, "")
}

func choices(fl *esn.Field) []string {
	if fl == nil {
		return nil
	}
	if len(fl.Options) > 0 {
		return fl.OptionValues()
	}
	return fl.Values
}

func oneB64(f *esn.Form, v string, maxLen int) ([]byte, error) {
	fl := f.Field(v)
	if fl == nil || len(fl.Values) != 1 {
		return nil, fmt.Errorf("field %q must hold one value", v)
	}
	return crypt.DecodeBase64(v, fl.Values[0], maxLen)
}

func b64(b []byte) string {
	if b == nil {
		return ""
	}
	return crypt.EncodeBase64(b)
}

// bigSummary shows a public DH value briefly: its size and leading hex.
func bigSummary(v *big.Int, wire string) string {
	if v == nil {
		if len(wire) > 24 {
			wire = wire[:24] + "..."
		}
		return wire
	}
	b := v.Bytes()
	h := hex.EncodeToString(b[:min(len(b), 8)])
	return fmt.Sprintf("%d bytes, 0x%s...", len(b), h)
}

func bare(j string) string {
	if i := strings.IndexByte(j, '/'); i >= 0 {
		return j[:i]
	}
	return j
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
