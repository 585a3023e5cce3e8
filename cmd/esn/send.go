package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/esn-project/esn/internal/runner"
	"github.com/esn-project/esn/pkg/esn"
	"github.com/spf13/cobra"
	"mellium.im/xmpp/jid"
)

func newSendCmd(a *app) *cobra.Command {
	var (
		sf    sessionFlags
		lines bool
		oss   ossFlag
		// offlineOK: XEP-0187 when the contact is offline (offline_send.go).
		offlineOK bool
	)
	c := &cobra.Command{
		Use:   "send JID [MESSAGE...]",
		Short: "Send messages over an encrypted session, confirmed by the peer",
		Long: `Negotiate an encrypted session (XEP-0116/XEP-0217) with JID, send the message,
terminate the session, and wait for the peer's encrypted acknowledgement of
the termination. Since XEP-0200 stanzas are counted and authenticated in
order, that acknowledgement proves every message arrived intact: esn send
exits 0 only then.

The message is the arguments joined by spaces, or stdin until EOF. With
--lines, each line of stdin is sent as its own message as soon as it is read
(behind tail -f, for instance); empty lines are skipped. An empty message is
not sent.

esn never falls back to plaintext: a contact with no available client, or
whose clients do not advertise XEP-0116 in disco#info, exits 69 with nothing
sent. For a bare JID, esn picks the first available resource that supports
encrypted sessions.

With --offline, a contact with no available client gets an offline encrypted
session (XEP-0187) instead, if it published signed offline options (esn offline
publish) and its key is trusted: esn completes the key exchange alone, and the
contact's server stores the encrypted messages until it logs in (esn receive).
No acknowledgement can come, so exit 0 means the server accepted them. An
online contact still gets an ordinary session.`,
		Example: `  esn send bob@example.org 'the build is green'
  date | esn send bob@example.org
  tail -f build.log | esn send --lines bob@example.org
  esn send --json --profile xep0116 --modp 15 bob@example.org/laptop hi
  esn send --offline bob@example.org 'read this when you are back'`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			target, prefs, err := a.sessionArgs(args[0], &sf, &oss)
			if err != nil {
				return err
			}
			if lines && len(args) > 1 {
				return usagef("--lines reads the messages from stdin; do not also give MESSAGE arguments")
			}
			var body string
			if !lines {
				if body, err = a.messageBody(args[1:]); err != nil {
					return err
				}
			}
			if err := a.load(); err != nil {
				return err
			}
			if offlineOK {
				if prefs.Auth == esn.AuthSAS {
					return usagef("--offline needs public keys (an offline session has no SAS to compare); drop --auth sas")
				}
				return identityHint(a.sendOffline(cmd.Context(), target, sf, prefs, lines, body))
			}
			return identityHint(a.send(cmd.Context(), target, sf, prefs, lines, body))
		},
	}
	sf.register(c, "xep0217")
	oss.register(c)
	c.Flags().BoolVar(&lines, "lines", false, "send each line of stdin as its own message as it arrives")
	c.Flags().BoolVar(&offlineOK, "offline", false, "if the contact is offline, use an offline encrypted session (XEP-0187; see esn offline)")
	return c
}

// parseJIDArg reads a JID argument.
func parseJIDArg(s string) (jid.JID, error) {
	j, err := jid.Parse(s)
	if err != nil {
		return jid.JID{}, usagef("%q is not a JID: %v", s, err)
	}
	return j, nil
}

// sessionArgs reads the JID argument and the session flags of esn send and
// esn negotiate.
func (a *app) sessionArgs(arg string, sf *sessionFlags, oss *ossFlag) (jid.JID, esn.Preferences, error) {
	target, err := parseJIDArg(arg)
	if err != nil {
		return jid.JID{}, esn.Preferences{}, err
	}
	prefs, err := sf.preferences()
	if err != nil {
		return jid.JID{}, esn.Preferences{}, err
	}
	if err := oss.apply(a, &prefs); err != nil {
		return jid.JID{}, esn.Preferences{}, err
	}
	return target, prefs, nil
}

// messageBody returns the message of `esn send`: the arguments, or stdin.
func (a *app) messageBody(args []string) (string, error) {
	var body string
	if len(args) > 0 {
		body = strings.Join(args, " ")
	} else {
		b, err := io.ReadAll(io.LimitReader(a.stdin, maxBody+1))
		if err != nil {
			return "", fmt.Errorf("reading stdin: %w", err)
		}
		body = strings.TrimSuffix(string(b), "\n")
	}
	if len(body) > maxBody {
		return "", usagef("the message is longer than %d bytes; split it, or use --lines", maxBody)
	}
	if strings.TrimSpace(body) == "" {
		return "", usagef("empty message: nothing sent")
	}
	return body, nil
}

func newLineScanner(r io.Reader) *bufio.Scanner {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxBody)
	return sc
}

// send negotiates with target, sends the message (or the lines of stdin),
// terminates and waits for the acknowledgement.
func (a *app) send(ctx context.Context, target jid.JID, sf sessionFlags, prefs esn.Preferences, lines bool, body string) error {
	l, thread, neg, err := a.negotiateWith(ctx, target, sf, prefs)
	if err != nil {
		return err
	}
	defer l.close()
	n := 0
	if lines {
		n, err = l.sendLines(ctx, thread, a.readLines())
	} else {
		err = l.r.SendBody(thread, body)
		if err == nil {
			n = 1
			l.reportSent(thread, body)
		}
	}
	if err := l.end(thread, n, err); err != nil {
		return err
	}
	if l.gajim { // Gajim never acknowledges (session.go finish)
		a.ui.noticef("sent %d message(s) to %s", n, neg.Peer)
	} else {
		a.ui.noticef("sent %d message(s) to %s; the peer acknowledged the end of the session", n, neg.Peer)
	}
	if a.flags.json {
		_ = a.ui.emitJSON(map[string]any{"event": "done", "peer": neg.Peer, "thread": thread, "messages": n, "acknowledged": !l.gajim, "time": now()})
	}
	return nil
}

// negotiateWith starts a session that accepts no request but target's own
// simultaneous one (the tie-break), and negotiates it with target. The
// caller closes the session.
func (a *app) negotiateWith(ctx context.Context, target jid.JID, sf sessionFlags, prefs esn.Preferences) (*liveSession, string, esn.NegotiatedEvent, error) {
	peerBare := target.Bare().String()
	l, err := a.startSession(ctx, sessionConfig{
		flags:  sf,
		prefs:  prefs,
		quiet:  true,
		accept: func(bare string) bool { return strings.EqualFold(bare, peerBare) },
	})
	if err != nil {
		return nil, "", esn.NegotiatedEvent{}, err
	}
	thread, neg, err := l.negotiate(ctx, target)
	if err != nil {
		l.close()
		return nil, "", esn.NegotiatedEvent{}, err
	}
	return l, thread, neg, nil
}

// end terminates the session on thread and waits for the peer's
// acknowledgement, after n messages were sent; err is the failure that
// stopped the sending, if any, and takes precedence over one of ending.
func (l *liveSession) end(thread string, n int, err error) error {
	ferr := l.finish(thread)
	switch {
	case err != nil:
		if ferr != nil {
			l.a.ui.infof("%v", ferr)
		}
	case ferr != nil:
		err = ferr
	default:
		return nil
	}
	return l.explainSessionError(err, n)
}

// negotiate finds the peer's client and negotiates a session with it.
func (l *liveSession) negotiate(ctx context.Context, target jid.JID) (string, esn.NegotiatedEvent, error) {
	peer, err := l.resolvePeer(ctx, target)
	if err != nil {
		return "", esn.NegotiatedEvent{}, err
	}
	l.a.ui.infof("negotiating an encrypted session with %s", peer)
	if l.ring != nil {
		l.a.refreshPeerKeys(ctx, l.conn, l.ring, peer)
	}
	thread, err := l.r.Initiate(peer.String(), esn.InitiateOptions{})
	if err != nil {
		return "", esn.NegotiatedEvent{}, keyErrorHint(err)
	}
	neg, err := l.r.Negotiated(ctx, thread)
	if err != nil {
		return "", neg, keyErrorHint(l.explainSessionError(err, 0))
	}
	return neg.Thread, neg, nil
}

// explainSessionError adds what the user needs to know to a session
// failure; sent is the number of messages sent before it.
func (l *liveSession) explainSessionError(err error, sent int) error {
	var (
		neg  *esn.NegotiationError
		gone *runner.PeerOfflineError
	)
	switch {
	case errors.As(err, &gone):
		return withHint(err, "%d message(s) were sent before; their delivery is not confirmed", sent)
	case errors.Is(err, esn.ErrTimeout):
		return withHint(err, "the peer did not answer within %v; raise --timeout, or check that its client is running", l.a.s.Timeout)
	case errors.As(err, &neg) && neg.Remote:
		return withHint(err, "the peer refused the negotiation; try --profile xep0217 or other --modp groups")
	case errors.Is(err, esn.ErrDeclined):
		return withHint(err, "the peer's client declined the session")
	}
	return err
}
