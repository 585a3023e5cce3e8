package archive

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"mellium.im/xmpp/jid"
)

// Logging is what a session negotiated about logging (XEP-0155 'logging',
// XEP-0116/XEP-0200 'otr'), as far as the archiver knows.
type Logging int

// Logging modes.
const (
	// LoggingUnknown: nothing says whether the session may be logged.
	LoggingUnknown Logging = iota
	// LoggingMay: the session may be logged (logging=may, otr=false).
	LoggingMay
	// LoggingMustNot: the session is off the record (logging=mustnot,
	// otr=true): no method may archive it, not even encrypted (XEP-0136
	// §3.2 "MUST NOT allow messages ... to be archived in any way", XEP-0200 §11.2).
	LoggingMustNot
)

func (l Logging) String() string {
	switch l {
	case LoggingMay:
		return "may"
	case LoggingMustNot:
		return "mustnot"
	}
	return "unknown"
}

// ParseLogging reads the logging value esn prints for a session ("may" or
// "mustnot", the String of pkg/esn's Logging). "" is LoggingUnknown.
func ParseLogging(s string) (Logging, error) {
	switch s {
	case "":
		return LoggingUnknown, nil
	case "may":
		return LoggingMay, nil
	case "mustnot":
		return LoggingMustNot, nil
	}
	return LoggingUnknown, malformed("logging %q (want may or mustnot)", truncate(s))
}

// CheckLogging says whether a message of a session may be archived: nil
// for LoggingMay, a *LoggingError otherwise (for LoggingUnknown only
// unless assumeMay).
func CheckLogging(l Logging, peer, thread string, assumeMay bool) error {
	switch {
	case l == LoggingMay, l == LoggingUnknown && assumeMay:
		return nil
	case l == LoggingMustNot:
		return &LoggingError{Peer: peer, Thread: thread}
	}
	return &LoggingError{Peer: peer, Thread: thread, Unknown: true}
}

// Message is one decrypted message to archive manually.
type Message struct {
	Peer     string // the other party's JID (full JID for one-to-one chats)
	Thread   string
	Outgoing bool
	Body     string
	Time     time.Time
	Logging  Logging // of the session it came through
}

// Collector groups messages into collections, one per peer and thread
// (XEP-0136 §4.3: different threads go to different collections), and
// refuses every message of a session that is off the record. It is not
// safe for concurrent use.
type Collector struct {
	// AssumeMay archives messages whose session's logging mode is
	// unknown. Off-the-record sessions are refused regardless.
	AssumeMay bool
	// Limit bounds the messages collected (default 100000).
	Limit int

	cols map[[2]string]*Collection
	n    int
}

// Add adds m to its collection. It returns a *LoggingError, and keeps
// nothing of m, when the session may not be logged.
func (c *Collector) Add(m Message) error {
	if err := CheckLogging(m.Logging, m.Peer, m.Thread, c.AssumeMay); err != nil {
		return err
	}
	peer, err := checkJID("peer", m.Peer)
	if err != nil {
		return err
	}
	if err := checkAttr("thread", m.Thread); err != nil {
		return err
	}
	if m.Time.IsZero() {
		return fmt.Errorf("archive: a message from %s has no time", peer)
	}
	limit := c.Limit
	if limit <= 0 {
		limit = 100000
	}
	if c.n >= limit {
		return tooLarge("more than %d messages", limit)
	}
	if c.cols == nil {
		c.cols = map[[2]string]*Collection{}
	}
	key := [2]string{peer, m.Thread}
	col := c.cols[key]
	t := m.Time.UTC().Truncate(time.Second)
	if col == nil {
		col = &Collection{With: peer, Start: t, Thread: m.Thread, Version: -1}
		c.cols[key] = col
	}
	if t.Before(col.Start) {
		col.Start = t
	}
	kind := KindFrom
	if m.Outgoing {
		kind = KindTo
	}
	col.Entries = append(col.Entries, Entry{Kind: kind, Time: t, Body: m.Body})
	c.n++
	return nil
}

// Collections returns the collections, oldest first, their entries in
// time order.
func (c *Collector) Collections() []*Collection {
	var out []*Collection
	for _, col := range c.cols {
		slices.SortStableFunc(col.Entries, func(a, b Entry) int { return a.Time.Compare(b.Time) })
		out = append(out, col)
	}
	slices.SortFunc(out, func(a, b *Collection) int {
		if d := a.Start.Compare(b.Start); d != 0 {
			return d
		}
		if d := strings.Compare(a.With, b.With); d != 0 {
			return d
		}
		return strings.Compare(a.Thread, b.Thread)
	})
	return out
}

// Bounds of ReadEvents.
const (
	maxEventLine = 1 << 20
	maxEvents    = 1 << 20
)

// eventLine is one line of `esn receive --json` (and of `esn send --json`)
// as far as archiving cares.
type eventLine struct {
	Event   string  `json:"event"`
	From    string  `json:"from"`
	To      string  `json:"to"`
	Peer    string  `json:"peer"`
	Thread  string  `json:"thread"`
	Body    *string `json:"body"`
	Time    string  `json:"time"`
	Logging string  `json:"logging"`
}

// EventStats counts what [ReadEvents] read.
type EventStats struct {
	Lines, Messages, Skipped int
}

// ReadEvents reads the JSON lines esn prints with --json (esn receive,
// esn send) and returns the messages they carry, with the logging mode of
// their session: from the message's own "logging", else from the
// "negotiated" event of its thread, else unknown. Messages without a body
// are skipped (counted in Skipped); other events are ignored. A line that
// is not a JSON object, or a message without a valid time or JID, is an
// error naming the line.
func ReadEvents(r io.Reader) ([]Message, EventStats, error) {
	var st EventStats
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxEventLine)
	logging := map[string]Logging{}
	var out []Message
	for sc.Scan() {
		st.Lines++
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var ev eventLine
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			return nil, st, malformed("line %d is not a JSON event: %v", st.Lines, err)
		}
		switch ev.Event {
		case "negotiated":
			l, err := ParseLogging(ev.Logging)
			if err != nil {
				return nil, st, fmt.Errorf("line %d: %w", st.Lines, err)
			}
			if ev.Thread != "" {
				logging[ev.Thread] = l
			}
		case "message", "sent":
			if ev.Body == nil || *ev.Body == "" {
				st.Skipped++
				continue
			}
			m := Message{Thread: ev.Thread, Body: *ev.Body, Outgoing: ev.Event == "sent"}
			m.Peer = ev.From
			if m.Outgoing {
				m.Peer = ev.To
				if m.Peer == "" {
					m.Peer = ev.Peer
				}
			}
			if _, err := jid.Parse(m.Peer); err != nil || m.Peer == "" {
				return nil, st, malformed("line %d: message without a valid peer JID", st.Lines)
			}
			t, err := time.Parse(time.RFC3339Nano, ev.Time)
			if err != nil {
				return nil, st, malformed("line %d: bad time %q", st.Lines, truncate(ev.Time))
			}
			m.Time = t.UTC()
			if m.Logging, err = ParseLogging(ev.Logging); err != nil {
				return nil, st, fmt.Errorf("line %d: %w", st.Lines, err)
			}
			if m.Logging == LoggingUnknown {
				m.Logging = logging[m.Thread]
			}
			if len(out) >= maxEvents {
				return nil, st, tooLarge("more than %d messages", maxEvents)
			}
			out = append(out, m)
			st.Messages++
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, st, tooLarge("line %d is longer than %d bytes", st.Lines+1, maxEventLine)
		}
		return nil, st, fmt.Errorf("archive: reading events: %w", err)
	}
	return out, st, nil
}
