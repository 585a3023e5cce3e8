package esn

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/esn-project/esn/pkg/crypt"
	"github.com/esn-project/esn/pkg/xmltree"
)

// Config configures a [Manager].
type Config struct {
	// Local is our full JID ("user@host/resource"), the from of what we
	// send.
	Local string
	// Account keys the retained secrets; default the bare JID of Local.
	Account string
	// Preferences are the negotiation choices; the zero value means
	// [DefaultPreferences](ProfileXEP0217).
	Preferences Preferences
	// Secrets persists retained secrets; nil keeps none (every session
	// starts a new, unverified chain and nothing is stored).
	Secrets RetainedSecrets
	// Keys gives our identity key and the trust decisions for public-key
	// authentication (Preferences.Auth); nil means SAS only.
	Keys KeyRing
	// Suite is the interpretation profile (crypt.XEPSuite() when nil); the
	// negotiated algorithms are set on a copy.
	Suite *crypt.Suite
	// Rand is the CSPRNG (crypto/rand when nil).
	Rand io.Reader
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// NegotiationTimeout bounds each negotiation step (default 60 s);
	// AckTimeout the wait for a terminate acknowledgement (default 30 s).
	// Both are enforced by [Manager.Tick].
	NegotiationTimeout time.Duration
	AckTimeout         time.Duration
	// Accept decides whether a request from the bare JID peer is accepted;
	// nil accepts every request. A refused request is declined ([XEP-0155]
	// §5), or ignored when SilentRefuse is set (no presence leak).
	Accept       func(peerBare string) bool
	SilentRefuse bool
	// MaxSessions bounds the live sessions (default 10000); memory per
	// session is bounded by the form limits.
	MaxSessions int
	// AutoRekey re-keys whenever rekey_freq allows ([XEP-0200] §9.1
	// "as regularly as possible").
	AutoRekey bool
	// KeyLog, when set, receives the secrets needed to decrypt each
	// session after the fact (like TLS's SSLKEYLOGFILE). Never set it in
	// production use: anyone holding the log can read the sessions.
	KeyLog func(KeyLogEntry)
	// FormLimits bound received forms.
	FormLimits FormLimits
	// BytesOnly is for callers that send the encrypted stanzas as bytes
	// (Output.Raw) and never read them as elements: Output.Send[i] is nil
	// wherever Output.Raw[i] is set. It saves building an element for
	// every encrypted stanza, a dozen allocations per message.
	BytesOnly bool

	// entropy overrides the randomness of negotiations (tests only).
	entropy entropy
}

// Key log labels. The line format is documented in docs/protocol.md.
const (
	// KeyLogNegotiation is K = HASH(g^xy mod p): with the captured
	// stanzas it recomputes the provisory keys, M_A, mac_A and the SAS.
	KeyLogNegotiation = "ESN_K"
	// KeyLogFinal is K_final = HASH(K | SRS | OSS): the session keys of
	// the 4-message negotiation and the first traffic.
	KeyLogFinal = "ESN_KFINAL"
)

// KeyLogEntry is one secret of one session.
type KeyLogEntry struct {
	Label  string
	Thread string
	Secret []byte
}

// String formats the entry as a key log line: LABEL THREAD-HEX SECRET-HEX.
// The thread is hex-encoded so that any thread id fits on one line.
func (e KeyLogEntry) String() string {
	return e.Label + " " + hex.EncodeToString([]byte(e.Thread)) + " " + hex.EncodeToString(e.Secret)
}

// Manager holds every stanza session of one local account, keyed by
// thread. It is safe for concurrent use: sessions are locked one by one, so
// different sessions proceed in parallel.
type Manager struct {
	cfg     Config
	prefs   Preferences
	account string
	suite   crypt.Suite
	ent     entropy

	mu       sync.Mutex
	sessions map[string]*entry
	ended    *tombstones // threads that ended: never accepted again
}

type entry struct {
	mu sync.Mutex
	s  *Session
}

// NewManager checks cfg and returns a Manager.
func NewManager(cfg Config) (*Manager, error) {
	if cfg.Local == "" || !strings.Contains(cfg.Local, "@") && !strings.Contains(cfg.Local, "/") {
		return nil, fmt.Errorf("esn: Config.Local %q is not a full JID", cfg.Local)
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	m := &Manager{cfg: cfg, prefs: cfg.Preferences.withDefaults(), sessions: map[string]*entry{},
		ended: newTombstones(4096)}
	m.account = cfg.Account
	if m.account == "" {
		m.account = bareOf(cfg.Local)
	}
	if cfg.Suite != nil {
		m.suite = *cfg.Suite
	} else {
		m.suite = crypt.XEPSuite()
	}
	for _, g := range m.prefs.Groups {
		if _, err := crypt.GroupByID(g); err != nil {
			return nil, fmt.Errorf("esn: preferences: %w", err)
		}
	}
	m.ent = cfg.entropy
	if m.ent == nil {
		m.ent = randEntropy{r: cfg.Rand, mode: m.suite.Exponent}
	}
	return m, nil
}

func (m *Manager) now() time.Time {
	if m.cfg.Now != nil {
		return m.cfg.Now()
	}
	return time.Now()
}

func (m *Manager) negTimeout() time.Duration {
	if m.cfg.NegotiationTimeout > 0 {
		return m.cfg.NegotiationTimeout
	}
	return 60 * time.Second
}

func (m *Manager) ackTimeout() time.Duration {
	if m.cfg.AckTimeout > 0 {
		return m.cfg.AckTimeout
	}
	return 30 * time.Second
}

func (m *Manager) formLimits() FormLimits { return m.cfg.FormLimits }

func (m *Manager) maxSessions() int {
	if m.cfg.MaxSessions > 0 {
		return m.cfg.MaxSessions
	}
	return 10000
}

// InitiateOptions adjust one negotiation.
type InitiateOptions struct {
	// Preferences replace the manager's for this session when non-nil.
	Preferences *Preferences
}

// Initiate starts a negotiation with peer (a bare or full JID) and returns
// the new thread id and M1, the ESession request (XEP-0116 §4.3).
func (m *Manager) Initiate(peer string, opts InitiateOptions) (string, Output, error) {
	if peer == "" {
		return "", Output{}, errors.New("esn: empty peer JID")
	}
	thread, err := m.newThreadID(opts) // gajim.go
	if err != nil {
		return "", Output{}, err
	}
	s := m.newSession(thread, crypt.Initiator, peer)
	if opts.Preferences != nil {
		p := opts.Preferences.withDefaults()
		s.prefsOverride = &p
	}
	prefs, err := s.setupInitiator(s.prefs())
	if err != nil {
		return "", Output{}, err
	}
	out, err := s.start(prefs)
	if err != nil {
		return "", out, err
	}
	s.deadline = m.now().Add(m.negTimeout())
	if err := m.add(s); err != nil {
		s.neg.erase()
		return "", Output{}, err
	}
	return thread, out, nil
}

func (m *Manager) newSession(thread string, role crypt.Role, peer string) *Session {
	return &Session{thread: thread, role: role, cfg: m, local: m.cfg.Local, peer: peer,
		peerBare: bareOf(peer), suite: m.suite}
}

func (m *Manager) add(s *Session) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.sessions) >= m.maxSessions() {
		return ErrTooManySessions
	}
	if _, dup := m.sessions[s.thread]; dup || m.ended.has(s.thread) {
		return fmt.Errorf("esn: thread %q already used", s.thread)
	}
	m.sessions[s.thread] = &entry{s: s}
	return nil
}

// Receive processes one incoming stanza. It returns ErrNotForUs for
// stanzas outside the protocol, ErrUnknownThread for session stanzas of no
// known thread, and ErrWrongSender for a known thread from another JID;
// the caller may ignore all three.
func (m *Manager) Receive(st *xmltree.Element) (Output, error) {
	in, perr := parseInbound(st, m.formLimits())
	if in == nil {
		return Output{}, perr
	}
	m.mu.Lock()
	e := m.sessions[in.thread]
	m.mu.Unlock()
	if e == nil {
		if in.kind == kindRequest || (perr != nil && in.wrapper != nil && in.wrapper.Name.Space == NSFeatureNeg) {
			return m.onRequest(in, perr)
		}
		if in.kind == kindNone {
			return Output{}, ErrNotForUs
		}
		return Output{}, ErrUnknownThread
	}
	e.mu.Lock()
	out, err := e.s.receive(in, perr)
	ended := e.s.state == stateTerminated
	e.mu.Unlock()
	if ended {
		m.remove(in.thread)
	}
	return out, err
}

// onRequest handles M1 for a new thread: policy, simultaneous initiation,
// then the negotiation.
func (m *Manager) onRequest(in *inbound, perr error) (Output, error) {
	var out Output
	if in.from == "" || !strings.Contains(in.from, "/") {
		return out, fmt.Errorf("esn: request without a full from JID: %w", ErrNotForUs)
	}
	if m.ended.has(in.thread) {
		return out, fmt.Errorf("esn: request for a thread that already ended: %w", ErrUnknownThread)
	}
	s := m.newSession(in.thread, crypt.Responder, in.from)
	if perr != nil {
		// A request we cannot parse: not-acceptable naming the field.
		nerr := negFail("request", CondNotAcceptable, perr, formErrField(perr)...)
		if errors.Is(perr, errNoForm) {
			nerr.Condition = CondServiceUnavailable
		}
		out.Send = append(out.Send, errorMessage(m.cfg.Local, in.from, in.thread, nerr.Condition, nerr.Fields, nil))
		out.add(TerminatedEvent{Thread: in.thread, Peer: in.from, Err: nerr})
		return out, nil
	}
	bare := bareOf(in.from)
	if m.cfg.Accept != nil && !m.cfg.Accept(bare) {
		m.ended.add(in.thread)
		if m.cfg.SilentRefuse {
			return out, nil
		}
		f := simpleForm(FormTypeSubmit, boolField("accept", false), Field{Var: "reason", Values: []string{"not accepted"}})
		msg := newMessage(m.cfg.Local, in.from, "normal", in.thread)
		msg.AddChild(featureWrap(f))
		out.Send = append(out.Send, msg)
		out.add(WarningEvent{Thread: in.thread, Peer: in.from, Text: "declined a session request from " + bare})
		return out, nil
	}
	// Simultaneous initiation (digest §2.11): the request with the lower
	// thread id survives on both sides.
	if p := m.pendingTo(bare); p != nil {
		p.mu.Lock()
		ours := p.s.thread
		if p.s.state == stateAwaitingResponse && bytes.Compare([]byte(ours), []byte(in.thread)) < 0 {
			// Ours survives: ignore theirs. The peer drops its request
			// when ours arrives; a decline here would read as a refusal.
			p.mu.Unlock()
			m.ended.add(in.thread)
			return out, nil
		}
		if p.s.state == stateAwaitingResponse {
			var drop Output
			p.s.end(&drop, errors.New("esn: superseded by the peer's simultaneous request"), false, false)
			for _, ev := range drop.Events {
				if t, ok := ev.(TerminatedEvent); ok {
					t.Replacement = in.thread
					ev = t
				}
				out.add(ev)
			}
		}
		p.mu.Unlock()
		m.remove(ours)
	}
	p, err := s.onRequest(in)
	out.merge(p)
	if err != nil || s.state == stateTerminated {
		m.ended.add(in.thread)
		return out, err
	}
	if err := m.add(s); err != nil {
		s.neg.erase()
		return Output{}, err
	}
	return out, nil
}

// pendingTo returns a session we initiated to bare that awaits M2.
func (m *Manager) pendingTo(bare string) *entry {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range m.sessions {
		if e.s.role == crypt.Initiator && e.s.peerBare == bare && e.s.state == stateAwaitingResponse {
			return e
		}
	}
	return nil
}

func (m *Manager) remove(thread string) {
	m.mu.Lock()
	delete(m.sessions, thread)
	m.ended.add(thread)
	m.mu.Unlock()
}

// with runs fn on the session of thread, under its lock.
func (m *Manager) with(thread string, fn func(*Session) (Output, error)) (Output, error) {
	m.mu.Lock()
	e := m.sessions[thread]
	m.mu.Unlock()
	if e == nil {
		if m.ended.has(thread) {
			return Output{}, ErrSessionEnded
		}
		return Output{}, ErrUnknownThread
	}
	e.mu.Lock()
	out, err := fn(e.s)
	ended := e.s.state == stateTerminated
	e.mu.Unlock()
	if ended {
		m.remove(thread)
	}
	return out, err
}

// Encrypt encrypts children (e.g. a <body/>) into a chat message of the
// established session thread.
func (m *Manager) Encrypt(thread string, children ...*xmltree.Element) (Output, error) {
	return m.with(thread, func(s *Session) (Output, error) { return s.Encrypt(children...) })
}

// EncryptBody is Encrypt with a single <body/>. An empty body is refused.
func (m *Manager) EncryptBody(thread, body string) (Output, error) {
	if body == "" {
		return Output{}, errors.New("esn: empty message")
	}
	return m.Encrypt(thread, textElem(NSClient, "body", body))
}

// Terminate ends the session thread (see [Session.Terminate]).
func (m *Manager) Terminate(thread string) (Output, error) {
	return m.with(thread, (*Session).Terminate)
}

// Rekey starts a re-key of the session thread (see [Session.Rekey]).
func (m *Manager) Rekey(thread string) (Output, error) {
	return m.with(thread, (*Session).Rekey)
}

// TerminateAll terminates every session, as entities MUST before going
// offline ([XEP-0116] §10).
func (m *Manager) TerminateAll() Output {
	var out Output
	for _, t := range m.Threads() {
		p, _ := m.Terminate(t)
		out.merge(p)
	}
	return out
}

// Tick enforces timeouts: negotiations that waited longer than
// NegotiationTimeout and terminations unacknowledged after AckTimeout end
// with ErrTimeout. Call it periodically (e.g. every second).
func (m *Manager) Tick(now time.Time) Output {
	var out Output
	for _, t := range m.Threads() {
		p, _ := m.with(t, func(s *Session) (Output, error) { return s.tick(now), nil })
		out.merge(p)
	}
	return out
}

// Threads returns the live threads.
func (m *Manager) Threads() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]string, 0, len(m.sessions))
	for t := range m.sessions {
		out = append(out, t)
	}
	return out
}

// Info describes the session thread.
func (m *Manager) Info(thread string) (Info, error) {
	var info Info
	_, err := m.with(thread, func(s *Session) (Output, error) { info = s.Info(); return Output{}, nil })
	return info, err
}

// Len returns the number of live sessions.
func (m *Manager) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.sessions)
}

// tombstones remembers the most recent ended threads, bounded.
type tombstones struct {
	set  map[string]struct{}
	ring []string
	next int
}

func newTombstones(n int) *tombstones {
	return &tombstones{set: make(map[string]struct{}, n), ring: make([]string, n)}
}

func (t *tombstones) add(s string) {
	if _, ok := t.set[s]; ok {
		return
	}
	if old := t.ring[t.next]; old != "" {
		delete(t.set, old)
	}
	t.ring[t.next] = s
	t.set[s] = struct{}{}
	t.next = (t.next + 1) % len(t.ring)
}

func (t *tombstones) has(s string) bool { _, ok := t.set[s]; return ok }

// bareOf returns the bare JID of a JID string (no resource).
func bareOf(j string) string {
	if i := strings.IndexByte(j, '/'); i >= 0 {
		return j[:i]
	}
	return j
}
