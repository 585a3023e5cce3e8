package main

// esn send --offline: Bob's side of XEP-0187. When the contact has no
// available client, esn fetches the contact's signed offline options,
// verifies them with a trusted key, completes the key exchange alone and
// sends the encrypted messages for the contact's server to store (XEP-0160).
// Never plaintext.

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/esn-project/esn/internal/runner"
	"github.com/esn-project/esn/pkg/esn"
	"github.com/esn-project/esn/pkg/offline"
	"github.com/esn-project/esn/pkg/pubkey"
	"github.com/esn-project/esn/pkg/transport"
	"github.com/esn-project/esn/pkg/xmltree"
	"mellium.im/xmpp/jid"
)

// offlineSender is the connection of one esn send --offline run.
type offlineSender struct {
	a    *app
	conn *transport.Conn
	peer string // the contact's bare JID

	seen     chan struct{}         // some available presence arrived
	online   chan string           // the contact's full JID came online
	incoming chan *xmltree.Element // messages from the contact
}

// sendOffline implements esn send --offline (sf, prefs, lines and body as
// for esn send). If the contact turns out to be online, it runs the
// ordinary online session instead.
func (a *app) sendOffline(ctx context.Context, target jid.JID, sf sessionFlags, prefs esn.Preferences, lines bool, body string) error {
	acct, err := a.s.accountJID()
	if err != nil {
		return err
	}
	account := acct.Bare().String()
	ring, err := a.newKeyRing(account, sf.tofu)
	if err != nil {
		return err
	}
	if ring.signer == nil {
		return offlineError(offline.ErrNoIdentity)
	}
	ob := &offlineSender{a: a, peer: target.Bare().String(), seen: make(chan struct{}, 1),
		online: make(chan string, 1), incoming: make(chan *xmltree.Element, 64)}
	conn, err := a.connect(ctx, func(c *transport.Conn) {
		c.OnPresence(ob.presence)
		c.OnMessage(ob.message)
	})
	if err != nil {
		return err
	}
	ob.conn = conn
	closed := false
	defer func() {
		if !closed {
			conn.Close()
		}
	}()
	subscribed, err := ob.subscribed(ctx)
	if err != nil {
		return err
	}
	if subscribed {
		res, err := a.availableResources(ctx, conn, target.Bare(), defaultPresenceWait, ob.seen)
		if err == nil && len(res) > 0 && (target.Resourcepart() == "" || containsJID(res, target)) {
			a.ui.noticef("%s is online: using an online encrypted session instead", ob.peer)
			conn.Close()
			closed = true
			return a.send(ctx, target, sf, prefs, lines, body)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	} else {
		a.ui.infof("no presence subscription to %s: esn cannot see whether it is online, so it uses the options for everybody (XEP-0187 §3.2)", ob.peer)
	}
	o, err := ob.fetchOptions(ctx, subscribed, ring)
	if err != nil {
		return offlineError(err)
	}
	a.ui.infof("%s's offline options (%s set) are signed by its key %s and expire %s", ob.peer, o.Set,
		ring.peerFingerprint(ob.peer, o.Signer()), pubkey.FormatTime(o.Expires))
	s, err := offline.Start(o, offline.SendConfig{Local: conn.LocalJID().String(), Signer: ring.signer,
		OneShot: !lines, Preferences: offline.Preferences{Groups: prefs.Groups}})
	if err != nil {
		return offlineError(err)
	}
	defer s.Close()
	p := s.Params()
	a.ui.noticef("offline encrypted session with %s (XEP-0187, %s set, MODP group %d, %s, %s)", s.To(), o.Set, p.Group, p.Cipher, p.Hash)
	if a.flags.json {
		_ = a.ui.emitJSON(map[string]any{"event": "negotiated", "offline": true, "peer": s.To(), "thread": s.Thread(),
			"set": o.Set.String(), "group": p.Group, "cipher": p.Cipher, "hash": p.Hash, "logging": p.Logging,
			"expires": pubkey.FormatTime(o.Expires), "auth": "key",
			"peer_fingerprint": ring.peerFingerprint(ob.peer, o.Signer()).Hex(), "time": now()})
	}
	n, err := ob.run(ctx, s, lines, body)
	if err != nil {
		return offlineError(err)
	}
	a.ui.noticef("sent %d message(s) to %s in an offline encrypted session; they wait on its server until %s logs in (options expire %s)",
		n, ob.peer, ob.peer, pubkey.FormatTime(o.Expires))
	if a.flags.json {
		_ = a.ui.emitJSON(map[string]any{"event": "done", "offline": true, "peer": s.To(), "thread": s.Thread(), "messages": n, "time": now()})
	}
	return nil
}

func containsJID(list []jid.JID, j jid.JID) bool {
	for _, x := range list {
		if x.Equal(j) {
			return true
		}
	}
	return false
}

func (ob *offlineSender) presence(p *xmltree.Element) {
	if p.Attribute("type") != "" {
		return
	}
	select {
	case ob.seen <- struct{}{}:
	default:
	}
	if from := p.Attribute("from"); strings.EqualFold(bareOf(from), ob.peer) && from != ob.peer {
		select {
		case ob.online <- from:
		default:
		}
	}
}

func (ob *offlineSender) message(m *xmltree.Element) {
	if !strings.EqualFold(bareOf(m.Attribute("from")), ob.peer) {
		return
	}
	select {
	case ob.incoming <- m:
	default:
	}
}

// subscribed reports whether we have a subscription to the contact's
// presence (roster subscription "to" or "both", RFC 6121 §2.1.2.5).
func (ob *offlineSender) subscribed(ctx context.Context) (bool, error) {
	cctx, cancel := context.WithTimeout(ctx, ob.a.s.Timeout)
	defer cancel()
	iq := xmltree.New("jabber:client", "iq")
	iq.SetAttr("type", "get")
	iq.AddChild(xmltree.New(runner.NSRoster, "query"))
	res, err := ob.conn.SendIQ(cctx, iq)
	if err != nil {
		return false, fmt.Errorf("fetching the roster: %w", err)
	}
	if q := res.Child(runner.NSRoster, "query"); q != nil {
		for _, it := range q.Children() {
			if strings.EqualFold(it.Attribute("jid"), ob.peer) {
				sub := it.Attribute("subscription")
				return sub == "to" || sub == "both", nil
			}
		}
	}
	return false, nil
}

// fetchOptions fetches and verifies the contact's options (XEP-0187 §3.2,
// §3.3): the subscribers' node first when subscribed, else (or when it
// holds nothing) the all-entities node. A missing node or item, an empty
// node or no access count as "no options" (digest #30).
func (ob *offlineSender) fetchOptions(ctx context.Context, subscribed bool, ring *keyRing) (*offline.Options, error) {
	cctx, cancel := context.WithTimeout(ctx, ob.a.s.Timeout)
	defer cancel()
	owner, _ := jid.Parse(ob.peer)
	var firstErr error
	var tried []string
	for _, set := range offline.FetchOrder(subscribed) {
		tried = append(tried, set.Node())
		items, err := ob.conn.PEPFetch(cctx, owner, set.Node())
		var se *transport.StanzaError
		switch {
		case errors.As(err, &se):
			ob.a.ui.infof("%s: no options on %s (%s)", ob.peer, set.Node(), se.Condition)
			continue
		case err != nil:
			return nil, err
		}
		var payload *xmltree.Element
		for _, it := range items {
			if it.Payload != nil && it.Payload.Name.Space == esn.NSData && it.Payload.Name.Local == "x" {
				payload = it.Payload
			}
		}
		if payload == nil {
			continue
		}
		o, err := offline.ParseOptions(payload, set, ob.peer)
		if err != nil {
			ob.a.ui.warnf("%s: unusable options on %s: %v", ob.peer, set.Node(), err)
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		// Candidates: the contact's published XEP-0189 keys, validated
		// and recorded (untrusted unless trusted before).
		var cands []*rsa.PublicKey
		if fetched, err := ob.a.fetchPeerKeys(cctx, ob.conn, ring.db, owner); err == nil {
			for _, fk := range fetched {
				if fk.Err == nil && fk.Key != nil {
					cands = append(cands, fk.Key.Key)
				}
			}
		} else {
			ob.a.ui.infof("could not fetch the published keys of %s: %v", ob.peer, err)
		}
		if err := o.Verify(ring, cands...); err != nil {
			return nil, err
		}
		return o, nil
	}
	if firstErr != nil {
		return nil, firstErr
	}
	return nil, withHint(fmt.Errorf("%w: %s has no available client and no offline options on %s; nothing was sent", offline.ErrNoOptions, ob.peer, strings.Join(tried, " or ")),
		"esn never falls back to plaintext; %s can publish options with: esn offline publish", ob.peer)
}

// run sends the message (one-shot) or the lines of stdin, then the
// termination, and checks that the server accepted them.
func (ob *offlineSender) run(ctx context.Context, s *offline.Session, lines bool, body string) (int, error) {
	a := ob.a
	send := func(st *xmltree.Element) error {
		if st == nil {
			return nil
		}
		sctx, cancel := context.WithTimeout(ctx, a.s.Timeout)
		defer cancel()
		return ob.conn.Send(sctx, st)
	}
	n := 0
	sendBody := func(text string) error {
		st, err := s.SealBody(text)
		if err != nil {
			return err
		}
		if err := send(st); err != nil {
			return err
		}
		n++
		a.ui.infof("sent %d bytes on offline session %s", len(text), shortThread(s.Thread()))
		if a.flags.json {
			_ = a.ui.emitJSON(map[string]any{"event": "sent", "offline": true, "thread": s.Thread(), "bytes": len(text), "time": now()})
		}
		return nil
	}
	if !lines {
		if err := sendBody(body); err != nil {
			return n, err
		}
	} else {
		in := a.readLines()
	loop:
		for {
			select {
			case <-ctx.Done():
				break loop
			case full := <-ob.online:
				// XEP-0187 §5 (O-37): terminate at once when the contact
				// comes online.
				if err := send(mustTerminate(s)); err != nil {
					return n, err
				}
				return n, withCode(exitUnavailable, withHint(fmt.Errorf("%s came online (%s): the offline session was terminated after %d message(s)", ob.peer, full, n),
					"send the rest with esn send (an online session)"))
			case m := <-ob.incoming:
				if ended, err := s.Receive(m); err != nil && !errors.Is(err, offline.ErrNotOffline) {
					return n, err
				} else if ended {
					return n, withCode(exitUnavailable, fmt.Errorf("%s ended the offline session after %d message(s)", ob.peer, n))
				}
			case ln, ok := <-in:
				if !ok {
					break loop
				}
				if ln.err != nil {
					_ = send(mustTerminate(s))
					return n, ln.err
				}
				if strings.TrimSpace(ln.text) == "" {
					continue
				}
				if err := sendBody(ln.text); err != nil {
					return n, err
				}
			}
		}
		if err := send(mustTerminate(s)); err != nil {
			return n, err
		}
		if ctx.Err() != nil {
			return n, ctx.Err()
		}
	}
	if n == 0 {
		return 0, usagef("no message to send (empty input)")
	}
	// A round trip to our server: bounces for the stanzas above (e.g.
	// service-unavailable when the contact's server stores no offline
	// messages, XEP-0160 §3) arrive before its answer.
	bctx, cancel := context.WithTimeout(ctx, a.s.Timeout)
	defer cancel()
	if _, err := ob.conn.DiscoInfo(bctx, ob.conn.LocalJID().Domain()); err != nil {
		var se *transport.StanzaError
		if !errors.As(err, &se) {
			return n, err
		}
	}
	deadline := time.After(200 * time.Millisecond)
	for {
		select {
		case m := <-ob.incoming:
			if _, err := s.Receive(m); err != nil && !errors.Is(err, offline.ErrNotOffline) {
				return n, withHint(err, "the server did not accept the offline message(s) for %s", ob.peer)
			}
		case <-deadline:
			return n, nil
		}
	}
}

// mustTerminate returns the session's termination stanza, or nil.
func mustTerminate(s *offline.Session) *xmltree.Element {
	st, err := s.Terminate()
	if err != nil {
		return nil
	}
	return st
}
