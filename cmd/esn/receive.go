package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/esn-project/esn/internal/runner"
	"github.com/esn-project/esn/pkg/esn"
	"github.com/esn-project/esn/pkg/transport"
	"github.com/esn-project/esn/pkg/xmltree"
	"github.com/spf13/cobra"
	"mellium.im/xmpp/jid"
)

// receiveLinger is how long esn receive waits, once it is done, for peers
// to terminate their sessions themselves before it terminates them: a
// sender whose own terminate crossed ours could not get its
// acknowledgement.
const receiveLinger = 3 * time.Second

func newReceiveCmd(a *app) *cobra.Command {
	var (
		sf       sessionFlags
		from     []string
		count    int
		duration time.Duration
		oss      ossFlag
		// esn receive --archive (archive_receive.go)
		archiveMsgs, archivePlain bool
	)
	c := &cobra.Command{
		Use:   "receive",
		Short: "Accept encrypted sessions and print the messages they carry",
		Long: `Connect, announce this client (presence with priority 0: the server also
hands it the account's offline messages), and accept encrypted session
requests (XEP-0116/XEP-0217) from the JIDs given with --from or, when none is
given, from roster contacts only. Other requests are declined, and the
decline is reported. Each decrypted message is printed; with --json one
object per line:

  {"event":"message","from":"alice@example.org/laptop","thread":"…","body":"hello",
   "sas":"ac5d1","verified":false,"time":"2024-05-01T10:00:00Z"}

With --json the first line is {"event":"ready",…}, printed once requests can
be accepted. Negotiations, declines, warnings and terminations are also
reported (one object each).

esn receive stops after --count messages, after --timeout, or on SIGINT/SIGTERM,
and then terminates every open session cleanly. Here --timeout (before or
after "receive") is the receive duration; connecting and each reply are
bounded by the config file's timeout (default 30s). Messages that are not
encrypted are never printed as messages; a warning says they were ignored.

Offline encrypted sessions (XEP-0187) that contacts started while this account
was offline (see esn offline) are decrypted too: at login esn withdraws the
options it published for presence subscribers and destroys their stored
secrets, then prints each stored message (with --json: "offline":true, the
server's "delay" stamp and the sender's encrypted "created" time). Senders are
authenticated by their public keys only; --tofu trusts an unknown one.`,
		Example: `  esn receive
  esn receive --json --from alice@example.org --count 1
  esn receive --timeout 10m --modp 5,14,15 --profile xep0116`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			a.flags.changed = shadowed(a.flags.changed, "timeout")
			prefs, err := sf.preferences()
			if err != nil {
				return err
			}
			if err := oss.apply(a, &prefs); err != nil {
				return err
			}
			var allow []string
			for _, f := range from {
				j, err := jid.Parse(f)
				if err != nil {
					return usagef("--from %q is not a JID: %v", f, err)
				}
				allow = append(allow, strings.ToLower(j.Bare().String()))
			}
			if count < 0 || duration < 0 {
				return usagef("--count and --timeout must not be negative")
			}
			if err := a.load(); err != nil {
				return err
			}
			var arch *receiveArchiver
			if archiveMsgs || archivePlain {
				if arch, err = a.newReceiveArchiver(archivePlain, prefs.Logging); err != nil {
					return err
				}
			}
			return a.receive(cmd.Context(), sf, prefs, allow, count, duration, arch)
		},
	}
	sf.register(c, "xep0116")
	oss.register(c)
	c.Flags().Lookup("modp").Usage = "MODP `GROUPS` accepted, in order of preference (the responder chooses)"
	c.Flags().Lookup("profile").Usage = "`PROFILE` of the parameters answered: xep0116 (accepts XEP-0217 requests too), xep0217 or gajim (answers Gajim's requests only)"
	c.Flags().StringArrayVar(&from, "from", nil, "accept sessions from `JID` only (repeatable; default: roster contacts)")
	c.Flags().IntVar(&count, "count", 0, "exit after `N` messages (0: no limit)")
	c.Flags().BoolVar(&archiveMsgs, "archive", false, "at the end, archive the decrypted messages on your server (XEP-0136), encrypted to your own keys; never off-the-record sessions")
	c.Flags().BoolVar(&archivePlain, "archive-plaintext", false, "like --archive, without encryption (the server can read them)")
	// This --timeout shadows the global one, wherever it stands on the
	// command line (cobra parses `esn --timeout D receive` with receive's
	// flags too): for receive it is how long to receive (the issue's
	// interface). The server and reply timeout then comes from the config
	// file or its default; shadowed keeps the settings from mistaking this
	// flag for the global one.
	c.Flags().DurationVar(&duration, "timeout", 0, "stop receiving after `DURATION` (0: no limit); with --count, fewer messages by then exits 75")
	return c
}

// receiver is the state of one esn receive run.
type receiver struct {
	a     *app
	l     *liveSession
	count int
	arch  *receiveArchiver // esn receive --archive, or nil

	mu       sync.Mutex
	received int
	done     chan struct{} // closed when count is reached
	doneOnce sync.Once
}

func (a *app) receive(ctx context.Context, sf sessionFlags, prefs esn.Preferences, allow []string, count int, duration time.Duration, arch *receiveArchiver) error {
	rc := &receiver{a: a, count: count, done: make(chan struct{}), arch: arch}
	var roster *runner.Roster
	accept := func(bare string) bool {
		bare = strings.ToLower(bare)
		if len(allow) > 0 {
			return slices.Contains(allow, bare)
		}
		return roster != nil && roster.Contains(bare)
	}
	acct, err := a.s.accountJID()
	if err != nil {
		return err
	}
	// XEP-0187 offline sessions started while we were away (offline_receive.go).
	inbox := a.newOfflineInbox(rc, acct.Bare().String(), sf.tofu, accept)
	var rosterErr error
	l, err := a.startSession(ctx, sessionConfig{
		flags:   sf,
		prefs:   prefs,
		accept:  accept,
		onEvent: rc.event,
		setup: func(c *transport.Conn) {
			inbox.setup(c)
			if len(allow) > 0 {
				return
			}
			// Before any request can arrive (setup runs before presence).
			rctx, cancel := context.WithTimeout(ctx, a.s.Timeout)
			defer cancel()
			roster, rosterErr = runner.FetchRoster(rctx, c)
			if rosterErr != nil {
				return
			}
			local := c.LocalJID().Bare().String()
			c.OnIQ(func(iq *xmltree.Element) bool {
				res := roster.HandlePush(iq, local)
				if res == nil {
					return false
				}
				sctx, cancel := context.WithTimeout(context.Background(), a.s.Timeout)
				defer cancel()
				_ = c.Send(sctx, res)
				return true
			})
		},
	})
	if err != nil {
		return err
	}
	rc.l = l
	defer l.close()
	defer func() {
		fctx, cancel := context.WithTimeout(context.Background(), a.s.Timeout)
		defer cancel()
		inbox.finish(fctx)
	}()
	if rosterErr != nil {
		return rosterErr
	}
	inbox.login(ctx)
	if err := l.sendPresence(ctx, 0); err != nil {
		inbox.abort()
		return err
	}
	inbox.online()
	accepting := any("roster")
	if len(allow) > 0 {
		accepting = allow
	}
	if a.flags.json {
		_ = a.ui.emitJSON(map[string]any{"event": "ready", "jid": l.conn.LocalJID().String(), "accepting": accepting, "time": now()})
	}
	if len(allow) > 0 {
		a.ui.noticef("ready as %s, accepting sessions from %s", l.conn.LocalJID(), strings.Join(allow, ", "))
	} else {
		a.ui.noticef("ready as %s, accepting sessions from the %d contact(s) of the roster", l.conn.LocalJID(), roster.Len())
	}

	var timeout <-chan time.Time
	if duration > 0 {
		t := time.NewTimer(duration)
		defer t.Stop()
		timeout = t.C
	}
	var result error
	select {
	case <-rc.done:
		rc.linger()
	case <-timeout:
		if count > 0 {
			result = withCode(exitTempFail, fmt.Errorf("received %d of %d message(s) in %v", rc.n(), count, duration))
		}
	case <-ctx.Done():
		a.ui.infof("interrupted: terminating the open sessions")
	case <-l.conn.Done():
		return fmt.Errorf("the connection to the server ended: %w", l.conn.Err())
	}
	tctx, cancel := context.WithTimeout(context.Background(), a.s.Timeout)
	defer cancel()
	if err := l.r.TerminateAll(tctx); err != nil && !(l.gajim && onlyUnacknowledged(err)) {
		a.ui.warnf("some sessions did not end cleanly: %s", trimPrefix(err))
	}
	if arch != nil {
		actx, cancel := context.WithTimeout(context.Background(), a.s.Timeout)
		defer cancel()
		if err := arch.flush(actx, l.conn); err != nil && result == nil {
			result = err
		}
	}
	return result
}

// linger waits a little for the peers to terminate their sessions
// themselves (see receiveLinger).
func (rc *receiver) linger() {
	deadline := time.Now().Add(receiveLinger)
	for rc.l.r.Manager().Len() > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
}

func (rc *receiver) n() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.received
}

// event prints messages; it runs on the runner's goroutines, in order.
func (rc *receiver) event(ev esn.Event) {
	m, ok := ev.(esn.MessageEvent)
	if !ok {
		return
	}
	a := rc.a
	rc.mu.Lock()
	if rc.count > 0 && rc.received >= rc.count {
		rc.mu.Unlock()
		a.ui.warnf("ignored a message from %s after --count was reached", m.Peer)
		return
	}
	rc.received++
	reached := rc.count > 0 && rc.received >= rc.count
	rc.mu.Unlock()
	info, _ := rc.l.r.Manager().Info(m.Thread)
	if rc.arch != nil {
		rc.arch.add(m, info.Params.Logging) // an unknown session counts as mustnot
	}
	if m.Body == "" {
		a.ui.infof("an encrypted message from %s without a body (e.g. a chat state)", m.Peer)
	} else if a.flags.json {
		_ = a.ui.emitJSON(messageEvent{Event: "message", From: m.Peer, Thread: m.Thread, Body: m.Body,
			SAS: info.SAS, Verified: info.Verified, Logging: info.Params.Logging.String(), Time: now()})
	} else {
		mark := "SAS " + info.SAS + ", not verified"
		if info.Verified {
			mark = "verified"
		}
		a.ui.printf("%s [%s]: %s\n", m.Peer, mark, m.Body)
	}
	if reached {
		rc.doneOnce.Do(func() { close(rc.done) })
	}
}

// messageEvent is the JSON line of a received message. It is the hot path
// of a busy receiver, so it is a struct rather than a map (about three
// times cheaper to encode); its fields are in alphabetical order, so the
// line is the same as a map's would be.
type messageEvent struct {
	Body     string `json:"body"`
	Event    string `json:"event"`
	From     string `json:"from"`
	Logging  string `json:"logging"`
	SAS      string `json:"sas"`
	Thread   string `json:"thread"`
	Time     string `json:"time"`
	Verified bool   `json:"verified"`
}

// shadowed wraps the settings' "was this global flag given" test for a
// command whose local flag name shadows a global flag: the global flag can
// then never be given, and a set local flag must not count as it.
func shadowed(changed func(string) bool, name string) func(string) bool {
	return func(n string) bool {
		return n != name && changed != nil && changed(n)
	}
}
