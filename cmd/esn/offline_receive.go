package main

// The XEP-0187/XEP-0160 part of esn receive: at login, withdraw the
// subscribers' offline options and take their secrets out of the state
// file; decrypt the offline encrypted sessions that contacts started while
// we were offline (stored by the server, delivered after our presence);
// print the messages with the server's delay stamp and the sender's
// encrypted Created time.

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/esn-project/esn/pkg/offline"
	"github.com/esn-project/esn/pkg/pubkey"
	"github.com/esn-project/esn/pkg/transport"
	"github.com/esn-project/esn/pkg/xmltree"
)

// offlineGrace is how long after our presence the working copies of the
// subscribers' secrets are kept: the server delivers the stored messages
// right after it (XEP-0160 §3), and XEP-0187 §3.4 wants the secrets gone
// once they are processed.
const offlineGrace = 15 * time.Second

// offlineInbox is Alice's side of XEP-0187 inside one esn receive run.
type offlineInbox struct {
	a       *app
	rc      *receiver
	account string
	tofu    bool
	accept  func(bare string) bool

	mu    sync.Mutex
	r     *offline.Receiver
	conn  *transport.Conn
	timer *time.Timer
	taken []*offline.Secrets // the subscribers' sets, until our presence is out
}

func (a *app) newOfflineInbox(rc *receiver, account string, tofu bool, accept func(string) bool) *offlineInbox {
	return &offlineInbox{a: a, rc: rc, account: account, tofu: tofu, accept: accept}
}

// setup runs in transport's Setup, before our presence: it starts
// handling messages (a no-op until login has loaded the secrets).
func (ib *offlineInbox) setup(c *transport.Conn) {
	ib.mu.Lock()
	ib.conn = c
	ib.mu.Unlock()
	c.OnMessage(ib.handle)
}

// login runs just before our presence, once nothing else can fail: it
// withdraws the subscribers' options (O-25), takes their secrets out of the
// state file (O-26: the persistent copies are destroyed at login; the
// working copies live in memory) and loads the long-lived set. Failures are
// warnings: the online sessions still work.
func (ib *offlineInbox) login(ctx context.Context) {
	a := ib.a
	ib.mu.Lock()
	c := ib.conn
	ib.mu.Unlock()
	if c == nil {
		return
	}
	st := a.offlineStore(ib.account)
	if _, err := st.DeleteExpired(time.Now()); err != nil {
		a.ui.warnf("offline sessions: %v", err)
		return
	}
	rctx, cancel := context.WithTimeout(ctx, a.s.Timeout)
	defer cancel()
	if err := retractOptions(rctx, c, offline.SetSubscribers); err != nil {
		var se *transport.StanzaError
		if !errors.As(err, &se) {
			a.ui.warnf("could not withdraw the offline options for presence subscribers: %v", err)
		}
	}
	subs, err := st.Take(offline.SetSubscribers)
	if err != nil {
		a.ui.warnf("offline sessions: %v", err)
		return
	}
	rest, err := st.List()
	if err != nil {
		a.ui.warnf("offline sessions: %v", err)
		ib.restore(st, subs)
		return
	}
	sets := append(subs, rest...)
	if len(sets) == 0 {
		return
	}
	ring := &keyRing{a: a, db: &trustDB{a: a, account: ib.account}, tofu: ib.tofu}
	r, err := offline.NewReceiver(offline.ReceiverConfig{Local: c.LocalJID().String(), Sets: sets, Keys: ring, Replay: st})
	if err != nil {
		a.ui.warnf("offline sessions: %v", err)
		ib.restore(st, subs)
		return
	}
	ib.mu.Lock()
	ib.r, ib.taken = r, subs
	ib.mu.Unlock()
	a.ui.infof("holding the secrets of %d offline option set(s) (%d for presence subscribers, withdrawn)", len(sets), len(subs))
}

// restore puts taken secrets back when the login did not happen: the
// server keeps the offline messages until our presence, so the secrets
// must survive until then.
func (ib *offlineInbox) restore(st *offline.Store, taken []*offline.Secrets) {
	if len(taken) == 0 {
		return
	}
	if err := st.Save(taken...); err != nil {
		ib.a.ui.warnf("could not put back the offline secrets: %v", err)
	}
}

// abort is called when our presence could not be sent after login.
func (ib *offlineInbox) abort() {
	ib.mu.Lock()
	taken := ib.taken
	ib.taken = nil
	ib.mu.Unlock()
	ib.restore(ib.a.offlineStore(ib.account), taken)
}

// online is called once our presence is sent: the stored messages follow
// it; after offlineGrace the subscribers' secrets are forgotten.
func (ib *offlineInbox) online() {
	ib.mu.Lock()
	defer ib.mu.Unlock()
	ib.taken = nil
	if ib.r == nil {
		return
	}
	r := ib.r
	ib.timer = time.AfterFunc(offlineGrace, func() { r.Forget(offline.SetSubscribers) })
}

// handle processes one message stanza (on the transport's dispatch
// goroutine, in order). Stanzas of online sessions are left to the runner.
func (ib *offlineInbox) handle(st *xmltree.Element) {
	ib.mu.Lock()
	r := ib.r
	ib.mu.Unlock()
	if r == nil {
		return
	}
	a := ib.a
	from := st.Attribute("from")
	if st.Child(offline.NSInit, "init") != nil && !ib.accept(bareOf(from)) {
		// Same policy as online requests (--from, or the roster).
		a.ui.warnf("ignored an offline encrypted session from %s (not accepted: see --from)", from)
		return
	}
	evs, err := r.Receive(st)
	for _, ev := range evs {
		ib.report(ev)
	}
	if err == nil || errors.Is(err, offline.ErrNotOffline) {
		return
	}
	// XEP-0187 §3.4: nothing is sent back; the user is told why.
	a.ui.warnf("discarded an offline encrypted message from %s: %s", from, strings.TrimPrefix(err.Error(), "offline: "))
	if h, ok := keyTrustHint(err); ok {
		a.ui.hintf("%s", h)
	}
	if a.flags.json {
		_ = a.ui.emitJSON(map[string]any{"event": "discarded", "offline": true, "from": from,
			"thread": st.ChildText("", "thread"), "error": strings.TrimPrefix(err.Error(), "offline: "), "time": now()})
	}
}

func (ib *offlineInbox) report(ev offline.Event) {
	a := ib.a
	ring := &keyRing{a: a, db: &trustDB{a: a, account: ib.account}}
	switch ev := ev.(type) {
	case offline.EstablishedEvent:
		fp := ring.peerFingerprint(bareOf(ev.Peer), ev.Key)
		a.ui.noticef("offline encrypted session from %s (XEP-0187, %s set, MODP group %d, %s), authenticated by its key %s",
			ev.Peer, ev.Set, ev.Params.Group, ev.Params.Cipher, fp)
		if a.flags.json {
			_ = a.ui.emitJSON(map[string]any{"event": "negotiated", "offline": true, "peer": ev.Peer, "thread": ev.Thread,
				"role": "initiator", "set": ev.Set.String(), "group": ev.Params.Group, "cipher": ev.Params.Cipher,
				"hash": ev.Params.Hash, "logging": ev.Params.Logging, "auth": "key", "peer_fingerprint": fp.Hex(),
				"one_shot": ev.OneShot, "time": now()})
		}
	case offline.MessageEvent:
		ib.message(ev, ring)
	case offline.EndedEvent:
		if ev.Err != nil {
			a.ui.warnf("offline session %s with %s ended: %s", shortThread(ev.Thread), ev.Peer, strings.TrimPrefix(ev.Err.Error(), "offline: "))
		} else {
			a.ui.infof("offline session %s with %s ended", shortThread(ev.Thread), ev.Peer)
		}
		if a.flags.json {
			j := map[string]any{"event": "terminated", "offline": true, "peer": ev.Peer, "thread": ev.Thread, "by_peer": ev.ByPeer, "time": now()}
			if ev.Err != nil {
				j["error"] = strings.TrimPrefix(ev.Err.Error(), "offline: ")
			}
			_ = a.ui.emitJSON(j)
		}
	}
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return pubkey.FormatTime(t)
}

func (ib *offlineInbox) message(m offline.MessageEvent, ring *keyRing) {
	a := ib.a
	ok, reached := ib.rc.countOffline()
	if !ok {
		a.ui.warnf("ignored an offline message from %s after --count was reached", m.Peer)
		return
	}
	fp := ring.peerFingerprint(bareOf(m.Peer), m.Key)
	switch {
	case m.Body == "":
		a.ui.infof("an offline encrypted message from %s without a body", m.Peer)
	case a.flags.json:
		_ = a.ui.emitJSON(map[string]any{"event": "message", "offline": true, "from": m.Peer, "thread": m.Thread, "body": m.Body,
			"set": m.Set.String(), "auth": "key", "peer_fingerprint": fp.Hex(), "verified": true,
			"created": stamp(m.Created), "delay": stamp(m.Delay), "time": now()})
	default:
		when := stamp(m.Created)
		if when == "" {
			when = stamp(m.Delay)
		}
		if when != "" {
			when = ", sent " + when
		}
		a.ui.printf("%s [offline, key %s%s]: %s\n", m.Peer, fp, when, m.Body)
	}
	if reached {
		ib.rc.doneOnce.Do(func() { close(ib.rc.done) })
	}
}

// countOffline counts an offline message against --count, as event does
// for online ones. It reports whether to print it and whether the count is
// now reached.
func (rc *receiver) countOffline() (ok, reached bool) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.count > 0 && rc.received >= rc.count {
		return false, false
	}
	rc.received++
	return true, rc.count > 0 && rc.received >= rc.count
}

// finish ends the offline sessions still open, as XEP-0116 requires before
// going offline (E-23; the sender does not acknowledge it), and erases
// every secret held in memory.
func (ib *offlineInbox) finish(ctx context.Context) {
	ib.mu.Lock()
	r, conn := ib.r, ib.conn
	if ib.timer != nil {
		ib.timer.Stop()
	}
	ib.mu.Unlock()
	if r == nil {
		return
	}
	defer r.Close()
	for _, s := range r.Sessions() {
		st, err := r.Terminate(s.Peer, s.Thread)
		if err != nil || conn == nil {
			continue
		}
		if err := conn.Send(ctx, st); err != nil {
			ib.a.ui.warnf("could not terminate the offline session with %s: %v", s.Peer, err)
		}
	}
}
