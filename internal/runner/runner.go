// Package runner connects the sans-I/O ESession core (pkg/esn) to a live
// XMPP connection (pkg/transport): it feeds every incoming message stanza
// to an [esn.Manager], sends what the manager returns in order, drives
// [esn.Manager.Tick], ends sessions whose peer went offline, and lets the
// commands wait for the outcomes they care about (a negotiation, a
// terminate acknowledgement).
//
// All goroutine orchestration of the esn commands lives here, so that
// cmd/esn stays a thin layer.
//
// # Order of stanzas
//
// The manager locks each session only while it computes; a stanza sealed
// before another must also be sent before it, or the peer sees the XEP-0200
// counters go backwards and ends the session. The runner therefore holds
// one lock from each manager call until its output has been written to the
// connection.
//
// # Presence
//
// XEP-0155 §2.10 (digest sessions-keys §2.10) lets a client assume that a
// peer whose full JID sent unavailable presence cannot continue, provided
// it then terminates explicitly. The runner does so: it sends the encrypted
// terminate (or a cancel during negotiation) and ends the session at once
// with a [*PeerOfflineError], without waiting for an acknowledgement that
// cannot come.
package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/esn-project/esn/pkg/esn"
	"github.com/esn-project/esn/pkg/transcript"
	"github.com/esn-project/esn/pkg/xmltree"
)

// Conn is what the runner needs from a connection; *transport.Conn
// implements it. The caller routes incoming messages to
// [Runner.HandleMessage] and presence to [Runner.HandlePresence].
type Conn interface {
	Send(ctx context.Context, st *xmltree.Element) error
	Done() <-chan struct{}
	Err() error
}

// RawConn is implemented by connections that can also write a stanza
// already serialized (*transport.Conn does). The runner then sends the
// encrypted stanzas as pkg/crypt wrote them, instead of serializing their
// elements again.
type RawConn interface {
	Conn
	// SendRaw writes one serialized stanza as it is; the runner passes
	// only esn.Output.Raw entries, which are well-formed stanzas.
	SendRaw(ctx context.Context, stanza []byte) error
}

// Options configure a Runner.
type Options struct {
	// OnEvent, when set, receives every event of the manager (and the
	// runner's own TerminatedEvent for a peer that went offline), in
	// order. It runs with the runner's lock held: it must not call the
	// Runner's methods, and should not block for long.
	OnEvent func(esn.Event)
	// Trace, when set, receives after each negotiation stanza sent or
	// received the values derived at that step (pkg/transcript without
	// secrets: parameters, nonces, counters, commitments, SAS), each line
	// starting with TracePrefix.
	Trace       io.Writer
	TracePrefix string
	// TickInterval is how often Manager.Tick runs (default 250 ms).
	TickInterval time.Duration
	// SendTimeout bounds each write to the connection (default 30 s).
	SendTimeout time.Duration
}

// PeerOfflineError ends a session whose peer sent unavailable presence.
// The runner's error texts carry no package prefix: the esn commands show
// them to people as they are.
type PeerOfflineError struct{ Peer string }

func (e *PeerOfflineError) Error() string {
	return fmt.Sprintf("%s went offline during the session", e.Peer)
}

// ErrConnectionLost is wrapped when the XMPP connection ended while a
// session was waited for.
var ErrConnectionLost = errors.New("the connection to the server ended")

// ErrNotAcknowledged is returned by Terminate when the session ended
// without the peer's acknowledgement (the peer terminated too).
var ErrNotAcknowledged = errors.New("the peer ended the session without acknowledging our terminate")

// Runner drives one manager over one connection. Its methods are safe for
// concurrent use.
type Runner struct {
	conn Conn
	m    *esn.Manager
	opts Options

	mu sync.Mutex // held from each manager call until its output is sent
	tr *transcript.Transcript

	wmu     sync.Mutex
	waiters map[string]*waiter

	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
}

// waiter is what the runner knows about one session's outcome.
type waiter struct {
	watched    bool // someone may wait on it: keep it after it ended
	negotiated chan struct{}
	ended      chan struct{}
	// negotiatedSet and done say that negotiated and ended are closed
	// or about to be (by emit, after the event's callback).
	negotiatedSet bool
	neg           esn.NegotiatedEvent
	err           error
	acked         bool
	byPeer        bool
	replaced      string
	done          bool
}

func newWaiter(watched bool) *waiter {
	return &waiter{watched: watched, negotiated: make(chan struct{}), ended: make(chan struct{})}
}

// New returns a runner. Call Start to run the timers, and route the
// connection's messages and presence to HandleMessage and HandlePresence.
func New(conn Conn, m *esn.Manager, opts Options) *Runner {
	if opts.TickInterval <= 0 {
		opts.TickInterval = 250 * time.Millisecond
	}
	if opts.SendTimeout <= 0 {
		opts.SendTimeout = 30 * time.Second
	}
	r := &Runner{conn: conn, m: m, opts: opts, waiters: map[string]*waiter{}, stop: make(chan struct{})}
	if opts.Trace != nil {
		r.tr = transcript.New(nil)
	}
	return r
}

// Manager returns the runner's manager.
func (r *Runner) Manager() *esn.Manager { return r.m }

// Start runs Manager.Tick periodically, and fails every waiter when the
// connection ends, until Stop.
func (r *Runner) Start() {
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		t := time.NewTicker(r.opts.TickInterval)
		defer t.Stop()
		for {
			select {
			case <-r.stop:
				return
			case <-r.conn.Done():
				r.failAll(fmt.Errorf("%w: %v", ErrConnectionLost, r.conn.Err()))
				return
			case now := <-t.C:
				r.mu.Lock()
				r.emit(r.m.Tick(now))
				r.mu.Unlock()
			}
		}
	}()
}

// Stop ends the timers started by Start.
func (r *Runner) Stop() {
	r.stopOnce.Do(func() { close(r.stop) })
	r.wg.Wait()
}

// HandleMessage processes one incoming message stanza. Stanzas outside the
// stanza-session protocol that carry a body are reported as a
// WarningEvent (esn never shows clear text as secure).
func (r *Runner) HandleMessage(st *xmltree.Element) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.trace("RECV", st)
	out, err := r.m.Receive(st)
	r.emit(out)
	from := st.Attribute("from")
	switch {
	case err == nil, errors.Is(err, esn.ErrUnknownThread), errors.Is(err, esn.ErrWrongSender):
	case errors.Is(err, esn.ErrNotForUs):
		if st.Child("", "body") != nil && st.Attribute("type") != "error" {
			r.event(esn.WarningEvent{Peer: from, Text: "ignored a message from " + from + " that is not encrypted"})
		}
	case errors.Is(err, esn.ErrPlaintext):
		r.event(esn.WarningEvent{Peer: from, Text: "ignored an unencrypted message from " + from + " inside an encrypted session"})
	default:
		r.event(esn.WarningEvent{Peer: from, Text: err.Error()})
	}
}

// HandlePresence ends the sessions bound to a full JID that sent
// unavailable presence (see the package doc).
func (r *Runner) HandlePresence(p *xmltree.Element) {
	if p.Attribute("type") != "unavailable" {
		return
	}
	from := p.Attribute("from")
	if from == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, t := range r.m.Threads() {
		info, err := r.m.Info(t)
		if err != nil || info.Peer != from || info.State == "awaiting-ack" {
			continue
		}
		out, _ := r.m.Terminate(t)
		perr := &PeerOfflineError{Peer: from}
		ev := esn.TerminatedEvent{Thread: t, Peer: from, Err: perr}
		if w := r.finish(t, ev); w != nil {
			r.event(ev)
			close(w.ended)
		}
		out.Events = nil // the manager's own end (cancelled) is superseded
		r.emit(out)
	}
}

// Initiate starts a negotiation with peer and returns its thread.
func (r *Runner) Initiate(peer string, opts esn.InitiateOptions) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	thread, out, err := r.m.Initiate(peer, opts)
	if err != nil {
		return "", err
	}
	r.watch(thread)
	r.emit(out)
	return thread, nil
}

// Negotiated waits until the session thread is established and returns
// its NegotiatedEvent. When the session was dropped for the peer's
// simultaneous request (esn's tie-break), it follows the surviving thread;
// the event's Thread says which.
func (r *Runner) Negotiated(ctx context.Context, thread string) (esn.NegotiatedEvent, error) {
	for {
		w := r.watch(thread)
		select {
		case <-w.negotiated:
			r.wmu.Lock()
			ev := w.neg
			r.wmu.Unlock()
			return ev, nil
		case <-w.ended:
			r.wmu.Lock()
			repl, err := w.replaced, w.err
			r.wmu.Unlock()
			if repl != "" {
				thread = repl
				continue
			}
			if err == nil {
				err = &esn.TerminatedError{Reason: "the session ended before it was established"}
			}
			return esn.NegotiatedEvent{}, err
		case <-ctx.Done():
			return esn.NegotiatedEvent{}, fmt.Errorf("waiting for the negotiation: %w", ctx.Err())
		case <-r.conn.Done():
			return esn.NegotiatedEvent{}, fmt.Errorf("%w: %v", ErrConnectionLost, r.conn.Err())
		}
	}
}

// SendBody encrypts body into a chat message of thread and sends it.
func (r *Runner) SendBody(thread, body string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	out, err := r.m.EncryptBody(thread, body)
	r.emit(out)
	if err != nil {
		if w := r.ended(thread); w != nil && w.err != nil {
			return w.err
		}
		return err
	}
	return nil
}

// Ended returns a channel closed when the session thread has ended.
func (r *Runner) Ended(thread string) <-chan struct{} { return r.watch(thread).ended }

// Err returns why the session thread ended abnormally, or nil while it
// lives or when it ended cleanly.
func (r *Runner) Err(thread string) error {
	if w := r.ended(thread); w != nil {
		return w.err
	}
	return nil
}

func (r *Runner) ended(thread string) *waiter {
	r.wmu.Lock()
	defer r.wmu.Unlock()
	w := r.waiters[thread]
	if w == nil || !w.done {
		return nil
	}
	return w
}

// Terminate ends the session thread with the encrypted terminate form and
// waits for the peer's acknowledgement, which proves that every stanza
// sent before it arrived intact. It returns nil only then.
func (r *Runner) Terminate(ctx context.Context, thread string) error {
	w := r.watch(thread)
	r.mu.Lock()
	out, err := r.m.Terminate(thread)
	r.emit(out)
	r.mu.Unlock()
	if err != nil && !errors.Is(err, esn.ErrSessionEnded) {
		return err
	}
	return r.waitEnd(ctx, w)
}

func (r *Runner) waitEnd(ctx context.Context, w *waiter) error {
	select {
	case <-w.ended:
	case <-ctx.Done():
		return fmt.Errorf("waiting for the terminate acknowledgement: %w", ctx.Err())
	case <-r.conn.Done():
		select {
		case <-w.ended: // ended cleanly just before the connection
		default:
			return fmt.Errorf("%w: %v", ErrConnectionLost, r.conn.Err())
		}
	}
	r.wmu.Lock()
	defer r.wmu.Unlock()
	switch {
	case w.err != nil:
		return w.err
	case w.acked:
		return nil
	default:
		return ErrNotAcknowledged
	}
}

// TerminateAll terminates every live session and waits for the
// acknowledgements (XEP-0116 §10: terminate before going offline). It
// returns the errors of the sessions that did not end cleanly.
func (r *Runner) TerminateAll(ctx context.Context) error {
	var ws []*waiter
	r.mu.Lock()
	for _, t := range r.m.Threads() {
		w := r.watch(t)
		out, err := r.m.Terminate(t)
		r.emit(out)
		if err == nil || errors.Is(err, esn.ErrSessionEnded) {
			ws = append(ws, w)
		}
	}
	r.mu.Unlock()
	var errs []error
	for _, w := range ws {
		if err := r.waitEnd(ctx, w); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// watch returns the waiter of thread, creating a watched one.
func (r *Runner) watch(thread string) *waiter {
	r.wmu.Lock()
	defer r.wmu.Unlock()
	w := r.waiters[thread]
	if w == nil {
		w = newWaiter(true)
		r.waiters[thread] = w
	}
	w.watched = true
	return w
}

// emit sends out.Send in order and dispatches out.Events. The caller holds
// r.mu. Stanzas that come serialized (out.Raw: the encrypted ones, as
// pkg/crypt wrote them) go out as they are when the connection can write
// bytes.
func (r *Runner) emit(out esn.Output) {
	rs, _ := r.conn.(RawConn)
	for i, st := range out.Send {
		raw := out.RawAt(i)
		if st == nil && (raw == nil || rs == nil) {
			// A manager with Config.BytesOnly on a connection that cannot
			// write bytes: a programming error, reported like a dead
			// connection rather than sending nothing silently.
			r.failAll(errors.New("runner: an encrypted stanza exists only as bytes and the connection cannot send bytes"))
			break
		}
		if st != nil {
			r.trace("SEND", st)
		}
		ctx, cancel := context.WithTimeout(context.Background(), r.opts.SendTimeout)
		var err error
		if raw != nil && rs != nil {
			err = rs.SendRaw(ctx, raw)
		} else {
			err = r.conn.Send(ctx, st)
		}
		cancel()
		if err != nil {
			// The connection is gone or stuck: Start's watcher fails the
			// waiters when it ends; a stuck one times out in Tick.
			break
		}
	}
	// Each event reaches OnEvent before the waiters of its session are
	// released, so that what a command prints when an event happens comes
	// before what it prints once it has waited for that event (the
	// "terminated" line before send's "done").
	for _, ev := range out.Events {
		var release chan struct{}
		switch ev := ev.(type) {
		case esn.NegotiatedEvent:
			release = r.negotiated(ev)
		case esn.TerminatedEvent:
			w := r.finish(ev.Thread, ev)
			if w == nil {
				continue // already ended by the runner (peer offline)
			}
			release = w.ended
		}
		r.event(ev)
		if release != nil {
			close(release)
		}
	}
}

// negotiated records the result of a negotiation and returns the channel
// to close to release its waiters, or nil when there is none to close.
func (r *Runner) negotiated(ev esn.NegotiatedEvent) chan struct{} {
	r.wmu.Lock()
	defer r.wmu.Unlock()
	w := r.waiters[ev.Thread]
	if w == nil {
		w = newWaiter(false)
		r.waiters[ev.Thread] = w
	}
	if w.done {
		return nil
	}
	w.neg = ev // a renegotiation updates it
	if w.negotiatedSet {
		return nil
	}
	w.negotiatedSet = true
	return w.negotiated
}

// finish records the end of a session and returns its waiter, whose ended
// channel the caller closes; nil when the session had already ended.
func (r *Runner) finish(thread string, ev esn.TerminatedEvent) *waiter {
	r.wmu.Lock()
	defer r.wmu.Unlock()
	w := r.waiters[thread]
	if w == nil {
		w = newWaiter(false)
		r.waiters[thread] = w
	}
	if w.done {
		return nil
	}
	w.done = true
	w.err, w.acked, w.byPeer, w.replaced = ev.Err, ev.Acknowledged, ev.ByPeer, ev.Replacement
	if ev.Replacement != "" && w.watched {
		if rw := r.waiters[ev.Replacement]; rw != nil {
			rw.watched = true
		} else {
			r.waiters[ev.Replacement] = newWaiter(true)
		}
	}
	if !w.watched {
		delete(r.waiters, thread)
	}
	return w
}

// failAll ends every waiter still open with err.
func (r *Runner) failAll(err error) {
	r.wmu.Lock()
	defer r.wmu.Unlock()
	for _, w := range r.waiters {
		if !w.done {
			w.done = true
			w.err = err
			close(w.ended)
		}
	}
}

func (r *Runner) event(ev esn.Event) {
	if r.opts.OnEvent != nil {
		r.opts.OnEvent(ev)
	}
}

// trace writes the derived values of a negotiation stanza.
func (r *Runner) trace(dir string, st *xmltree.Element) {
	if r.tr == nil || st.Name.Local != "message" {
		return
	}
	step := r.tr.Add(dir, st)
	if step.Kind == "other" || step.Kind == "encrypted" {
		return
	}
	_ = step.WriteText(r.opts.Trace, r.opts.TracePrefix)
}
