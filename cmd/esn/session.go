package main

// Plumbing shared by the commands that run encrypted sessions (negotiate,
// send, receive): flags, the connection with its runner, the peer lookup
// and the printing of session events.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/esn-project/esn/internal/esnstore"
	"github.com/esn-project/esn/internal/runner"
	"github.com/esn-project/esn/pkg/crypt"
	"github.com/esn-project/esn/pkg/esn"
	"github.com/esn-project/esn/pkg/store"
	"github.com/esn-project/esn/pkg/transport"
	"github.com/esn-project/esn/pkg/xmltree"
	"github.com/spf13/cobra"
	"mellium.im/xmpp/jid"
)

// maxBody bounds one message: the peer refuses <data/> that decodes to
// more than 64 KiB (crypt.DefaultMaxData), and the stanza carries more
// than the body.
const maxBody = 60 << 10

// sessionFlags are the negotiation flags of negotiate, send and receive.
type sessionFlags struct {
	modp    string
	profile string
	keylog  string
	auth    string // --auth (keys_session.go)
	tofu    bool
	logging string // --logging (archive_receive.go)
	// modpSet reports whether --modp was given (the gajim profile has
	// its own default groups).
	modpSet func() bool
}

func (f *sessionFlags) register(c *cobra.Command, defaultProfile string) {
	c.Flags().StringVar(&f.modp, "modp", "14,15", "MODP `GROUPS` to offer or accept, in order of preference (5, 14, 15, 16, 17, 18)")
	c.Flags().StringVar(&f.profile, "profile", defaultProfile, "negotiation `PROFILE`: xep0217 (simplified), xep0116 (full) or gajim (Gajim compatibility; default --modp 15,16,14)")
	f.modpSet = func() bool { return c.Flags().Changed("modp") }
	c.Flags().StringVar(&f.keylog, "keylog", "", "append the session secrets to `FILE` for esn decode (env "+envKeyLog+"; debugging only)")
	registerAuthFlags(c, &f.auth, &f.tofu)
	registerLoggingFlag(c, &f.logging)
}

// preferences turns the flags into negotiation preferences.
func (f *sessionFlags) preferences() (esn.Preferences, error) {
	prof, err := esn.ParseProfile(f.profile)
	if err != nil {
		return esn.Preferences{}, usageErr(err)
	}
	p := esn.DefaultPreferences(prof)
	modp := f.modp
	if prof == esn.ProfileGajim && (f.modpSet == nil || !f.modpSet()) {
		modp = "15,16,14" // Gajim's default offer (docs/protocol.md)
	}
	p.Groups = nil
	for _, s := range strings.Split(modp, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		g, err := strconv.Atoi(s)
		if err != nil || !slices.Contains([]int{1, 2, 5, 14, 15, 16, 17, 18}, g) {
			return p, usagef("--modp: %q is not a MODP group number (5, 14, 15, 16, 17, 18)", s)
		}
		if !slices.Contains(p.Groups, g) {
			p.Groups = append(p.Groups, g)
		}
	}
	if len(p.Groups) == 0 {
		return p, usagef("--modp: no group given")
	}
	if p.Auth, err = parseAuthFlag(f.auth); err != nil {
		return p, err
	}
	if prof == esn.ProfileGajim {
		// Gajim has no public keys: auto means the SAS.
		if p.Auth == esn.AuthKey {
			return p, usagef("--auth key: the gajim profile has no public-key authentication (use --auth sas)")
		}
		p.Auth = esn.AuthSAS
	}
	if p.Logging, err = parseLoggingFlag(f.logging); err != nil {
		return p, err
	}
	return p, nil
}

// liveSession is a connection with its session runner.
type liveSession struct {
	a       *app
	conn    *transport.Conn
	r       *runner.Runner
	secrets *esnstore.Secrets
	account string
	keylog  *keyLog
	ring    *keyRing // public-key authentication; nil for --auth sas

	// seen receives a value when some contact sends available presence
	// (for availableResources).
	seen chan struct{}

	onEvent func(esn.Event)
	// quiet suppresses the warning for a session that ended with an
	// error: the initiating commands return that error instead.
	quiet bool
	// gajim: --profile gajim, whose peers never acknowledge a terminate.
	gajim bool
}

// sessionConfig says how to start a liveSession.
type sessionConfig struct {
	flags sessionFlags
	prefs esn.Preferences
	// accept decides on session requests (bare JID); nil declines all.
	accept func(bare string) bool
	// onEvent receives every session event after the default reporting.
	onEvent func(esn.Event)
	// quiet: see liveSession.quiet.
	quiet bool
	// setup runs in transport's Setup after the runner is wired.
	setup func(*transport.Conn)
}

// startSession connects and wires a runner to the connection. The caller
// closes the session.
func (a *app) startSession(ctx context.Context, sc sessionConfig) (*liveSession, error) {
	l := &liveSession{a: a, seen: make(chan struct{}, 1), onEvent: sc.onEvent, quiet: sc.quiet,
		gajim: sc.prefs.Profile == esn.ProfileGajim}
	if p := a.keyLogPath(sc.flags.keylog); p != "" {
		kl, err := openKeyLog(p)
		if err != nil {
			return nil, err
		}
		l.keylog = kl
		a.ui.warnf("key log on: the secrets of these sessions are appended to %s; anyone who reads it can decrypt them", p)
	}
	acct, err := a.s.accountJID()
	if err != nil {
		l.keylog.close()
		return nil, err
	}
	l.account = acct.Bare().String()
	if l.ring, err = a.sessionKeyRing(l.account, sc.prefs.Auth, sc.flags.tofu); err != nil {
		l.keylog.close()
		return nil, err
	}
	stateDir := a.s.StateDir
	if err := store.EnsureDir(stateDir); err != nil {
		l.keylog.close()
		var pe *store.PermissionError
		if errors.As(err, &pe) {
			return nil, withHint(err, "run: %s", pe.Fix)
		}
		return nil, err
	}
	l.secrets = esnstore.New(func() (*store.DB, error) {
		return store.OpenDir(stateDir, store.Options{LockTimeout: store.DefaultLockTimeout})
	})
	var setupErr error
	conn, err := a.connect(ctx, func(c *transport.Conn) {
		cfg := esn.Config{
			Local:              c.LocalJID().String(),
			Account:            l.account,
			Preferences:        sc.prefs,
			Secrets:            l.secrets,
			Keys:               l.ring.esnKeyRing(),
			NegotiationTimeout: a.s.Timeout,
			AckTimeout:         a.s.Timeout,
			Accept:             sc.accept,
			// The runner writes encrypted stanzas as bytes; only --trace
			// reads them as elements.
			BytesOnly: !a.s.Trace,
		}
		if sc.accept == nil {
			cfg.Accept = func(string) bool { return false }
		}
		if l.keylog != nil {
			cfg.KeyLog = l.keylog.log
		}
		m, err := esn.NewManager(cfg)
		if err != nil {
			setupErr = err
			return
		}
		opts := runner.Options{OnEvent: l.event, SendTimeout: a.s.Timeout}
		if a.s.Trace {
			opts.Trace, opts.TracePrefix = a.stderr, "esn: trace: "
		}
		l.r = runner.New(c, m, opts)
		c.OnMessage(l.r.HandleMessage)
		c.OnPresence(func(p *xmltree.Element) {
			if p.Attribute("type") == "" {
				select {
				case l.seen <- struct{}{}:
				default:
				}
			}
			l.r.HandlePresence(p)
		})
		if sc.setup != nil {
			sc.setup(c)
		}
	})
	if err == nil && setupErr != nil {
		conn.Close()
		err = setupErr
	}
	if err != nil {
		l.keylog.close()
		return nil, err
	}
	l.conn = conn
	l.r.Start()
	return l, nil
}

// close ends the timers and the connection. It does not terminate
// sessions: the commands do that first.
func (l *liveSession) close() error {
	l.r.Stop()
	err := l.conn.Close()
	if kerr := l.keylog.close(); kerr != nil {
		l.a.ui.warnf("%v", kerr)
	}
	return err
}

// sendPresence announces us with the given priority. Priority -1 keeps
// the server from routing bare-JID messages and offline messages to this
// esn (RFC 6121 §4.7.2.3); 0 makes it the account's receiving client.
func (l *liveSession) sendPresence(ctx context.Context, priority int) error {
	p := xmltree.New("jabber:client", "presence")
	p.AddChild(xmltree.New("jabber:client", "priority").AddText(strconv.Itoa(priority)))
	if err := l.conn.Send(ctx, p); err != nil {
		return fmt.Errorf("sending presence: %w", err)
	}
	return nil
}

// resolvePeer finds the full JID to negotiate with: target itself when it
// is a full JID, else the first available resource of target that
// advertises XEP-0116 (checked with disco#info). Without one, it fails with
// exit code 69: esn never falls back to plaintext.
func (l *liveSession) resolvePeer(ctx context.Context, target jid.JID) (jid.JID, error) {
	a := l.a
	var cands []jid.JID
	if target.Resourcepart() != "" {
		if err := l.sendPresence(ctx, -1); err != nil {
			return jid.JID{}, err
		}
		cands = []jid.JID{target}
	} else {
		res, err := a.availableResources(ctx, l.conn, target.Bare(), defaultPresenceWait, l.seen)
		if err != nil {
			return jid.JID{}, withHint(err, "esn negotiates only with an online client (offline sessions are not implemented yet)")
		}
		cands = res
	}
	var without []string
	var firstErr error
	for _, c := range cands {
		a.ui.infof("asking %s whether it supports encrypted sessions", c)
		info, err := l.conn.DiscoInfo(ctx, c)
		if err != nil {
			if firstErr == nil {
				firstErr = explainDiscoError(err, c)
			}
			continue
		}
		if info.HasFeature(esn.NSESession) {
			return c, nil
		}
		without = append(without, c.String())
	}
	if len(without) > 0 {
		return jid.JID{}, withHint(withCode(exitUnavailable,
			fmt.Errorf("%s does not support encrypted sessions (no XEP-0116 feature in its disco#info); nothing was sent", strings.Join(without, ", "))),
			"esn never falls back to plaintext; the contact needs an ESession-capable client")
	}
	return jid.JID{}, firstErr
}

// event reports a session event on stderr (and stdout with --json), then
// hands it to the command.
func (l *liveSession) event(ev esn.Event) {
	a := l.a
	switch ev := ev.(type) {
	case esn.NegotiatedEvent:
		l.reportNegotiated(ev)
	case esn.TerminatedEvent:
		if ev.Err != nil && !l.quiet {
			a.ui.warnf("session %s with %s ended: %s", shortThread(ev.Thread), ev.Peer, trimPrefix(ev.Err))
		} else {
			a.ui.infof("session %s with %s ended cleanly", shortThread(ev.Thread), ev.Peer)
		}
		if a.flags.json {
			j := map[string]any{"event": "terminated", "peer": ev.Peer, "thread": ev.Thread,
				"by_peer": ev.ByPeer, "acknowledged": ev.Acknowledged, "time": now()}
			if ev.Err != nil {
				j["error"] = trimPrefix(ev.Err)
			}
			if ev.Replacement != "" {
				j["replaced_by"] = ev.Replacement
			}
			_ = a.ui.emitJSON(j)
		}
	case esn.WarningEvent:
		a.ui.warnf("%s", ev.Text)
		if a.flags.json {
			kind := "warning"
			if strings.HasPrefix(ev.Text, "declined") {
				kind = "declined"
			}
			_ = a.ui.emitJSON(map[string]any{"event": kind, "from": ev.Peer, "thread": ev.Thread, "text": ev.Text, "time": now()})
		}
	case esn.RekeyedEvent:
		a.ui.infof("session %s re-keyed", shortThread(ev.Thread))
	}
	if l.onEvent != nil {
		l.onEvent(ev)
	}
}

func (l *liveSession) reportNegotiated(ev esn.NegotiatedEvent) {
	a := l.a
	p := ev.Params
	a.ui.noticef("encrypted session with %s (%s, MODP group %d, %s, %s)", ev.Peer, p.Profile, p.Group, p.Cipher, p.Hash)
	l.reportAuth(ev)
	switch {
	case ev.SAS == "": // 3-message: authenticated by keys only, no SAS
	case ev.Verified:
		a.ui.noticef("SAS %s; the retained-secret chain with %s was verified earlier", ev.SAS, bareOf(ev.Peer))
	default:
		a.ui.noticef("SAS %s, not verified: compare it with %s out of band, then run 'esn sas confirm %s'", ev.SAS, bareOf(ev.Peer), bareOf(ev.Peer))
	}
	if ev.SAS != "" {
		if err := l.secrets.RecordSAS(l.account, bareOf(ev.Peer), esnstore.SASRecord{SAS: ev.SAS, Thread: ev.Thread,
			Peer: ev.Peer, Time: time.Now().UTC(), Verified: ev.Verified}); err != nil {
			a.ui.warnf("%v", err)
		}
	}
	if a.flags.json {
		_ = a.ui.emitJSON(l.authJSON(negotiatedJSON(ev), ev))
	}
}

func negotiatedJSON(ev esn.NegotiatedEvent) map[string]any {
	p := ev.Params
	return map[string]any{
		"event": "negotiated", "peer": ev.Peer, "thread": ev.Thread, "role": roleName(ev),
		"profile": p.Profile.String(), "group": p.Group, "cipher": p.Cipher, "hash": p.Hash,
		"stanzas": p.Stanzas, "rekey_freq": p.RekeyFreq, "logging": p.Logging.String(), "disclosure": p.Disclosure,
		"sas": ev.SAS, "verified": ev.Verified, "retained_secret": ev.RetainedSecret, "time": now(),
	}
}

func roleName(ev esn.NegotiatedEvent) string {
	if ev.Role == crypt.Initiator {
		return "initiator"
	}
	return "responder"
}

// sendLines sends each non-empty line from lines as its own message until
// lines closes, the session ends or ctx ends. It returns the number sent.
func (l *liveSession) sendLines(ctx context.Context, thread string, lines <-chan lineOrErr) (int, error) {
	n := 0
	for {
		select {
		case <-ctx.Done():
			return n, ctx.Err()
		case <-l.r.Ended(thread):
			if err := l.r.Err(thread); err != nil {
				return n, err
			}
			return n, errors.New("the peer ended the session")
		case ln, ok := <-lines:
			if !ok {
				return n, nil
			}
			if ln.err != nil {
				return n, ln.err
			}
			if strings.TrimSpace(ln.text) == "" {
				continue
			}
			if err := l.r.SendBody(thread, ln.text); err != nil {
				return n, err
			}
			n++
			l.reportSent(thread, ln.text)
		}
	}
}

func (l *liveSession) reportSent(thread, body string) {
	l.a.ui.infof("sent %d bytes on session %s", len(body), shortThread(thread))
	if l.a.flags.json {
		// "to" and "body" let `esn archive save` keep one's own side of a
		// conversation from this output.
		j := map[string]any{"event": "sent", "thread": thread, "bytes": len(body), "body": body, "time": now()}
		if info, err := l.r.Manager().Info(thread); err == nil {
			j["to"] = info.Peer
		}
		_ = l.a.ui.emitJSON(j)
	}
}

// finish terminates the session thread and waits for the acknowledgement,
// bounded by the timeout (also when ctx was cancelled by a signal).
func (l *liveSession) finish(thread string) error {
	ctx, cancel := context.WithTimeout(context.Background(), l.a.s.Timeout+5*time.Second)
	defer cancel()
	if err := l.r.Terminate(ctx, thread); err != nil {
		if l.gajim && errors.Is(err, runner.ErrNotAcknowledged) {
			l.a.ui.noticef("Gajim does not acknowledge the end of a session, so delivery is not confirmed")
			return nil
		}
		return fmt.Errorf("the end of the session was not acknowledged, so delivery is not confirmed: %w", err)
	}
	return nil
}

// lineOrErr is one line of stdin, or the read error.
type lineOrErr struct {
	text string
	err  error
}

// readLines reads lines from the app's stdin on its own goroutine (a read
// cannot be cancelled), so that the caller can also watch the session.
func (a *app) readLines() <-chan lineOrErr {
	ch := make(chan lineOrErr)
	go func() {
		defer close(ch)
		sc := newLineScanner(a.stdin)
		for sc.Scan() {
			ch <- lineOrErr{text: sc.Text()}
		}
		if err := sc.Err(); err != nil {
			ch <- lineOrErr{err: fmt.Errorf("reading stdin: %w", err)}
		}
	}()
	return ch
}

func bareOf(j string) string {
	if i := strings.IndexByte(j, '/'); i >= 0 {
		return j[:i]
	}
	return j
}

func shortThread(t string) string {
	if len(t) > 8 {
		return t[:8]
	}
	return t
}

func now() string { return time.Now().UTC().Format(time.RFC3339Nano) }

// trimPrefix drops the package prefixes of error texts for people.
func trimPrefix(err error) string {
	s := err.Error()
	for _, p := range []string{"esn: ", "runner: ", "transport: "} {
		s = strings.ReplaceAll(s, p, "")
	}
	return s
}

// onlyUnacknowledged reports whether every error joined in err is
// runner.ErrNotAcknowledged: what TerminateAll returns for gajim-profile
// sessions, whose peers never acknowledge.
func onlyUnacknowledged(err error) bool {
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return errors.Is(err, runner.ErrNotAcknowledged)
	}
	for _, e := range j.Unwrap() {
		if !onlyUnacknowledged(e) {
			return false
		}
	}
	return true
}
