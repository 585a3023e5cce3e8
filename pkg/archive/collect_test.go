package archive

import (
	"errors"
	"strings"
	"testing"

	"github.com/esn-project/esn/pkg/esn"
)

func TestLoggingMatchesESN(t *testing.T) {
	// ParseLogging reads what esn prints for a session.
	for _, tc := range []struct {
		l    esn.Logging
		want Logging
	}{{esn.LoggingMay, LoggingMay}, {esn.LoggingMustNot, LoggingMustNot}} {
		got, err := ParseLogging(tc.l.String())
		if err != nil || got != tc.want {
			t.Errorf("%v: got %v, %v", tc.l, got, err)
		}
	}
	if _, err := ParseLogging("sometimes"); !errors.Is(err, ErrMalformed) {
		t.Errorf("bad value: %v", err)
	}
}

func TestCollectorRefusesOffTheRecord(t *testing.T) {
	for i, tc := range []struct {
		logging   Logging
		assumeMay bool
		want      error
	}{
		{LoggingMay, false, nil},
		{LoggingMustNot, false, ErrLoggingForbidden},
		{LoggingMustNot, true, ErrLoggingForbidden}, // assuming never overrides OTR
		{LoggingUnknown, false, ErrLoggingUnknown},
		{LoggingUnknown, true, nil},
	} {
		c := &Collector{AssumeMay: tc.assumeMay}
		err := c.Add(Message{Peer: "juliet@capulet.com/balcony", Thread: "t", Body: "secret", Time: ts("2024-05-01T10:00:00Z"), Logging: tc.logging})
		if !errors.Is(err, tc.want) {
			t.Errorf("%d: got %v, want %v", i, err, tc.want)
		}
		if tc.want != nil {
			var le *LoggingError
			if !errors.As(err, &le) || le.Thread != "t" {
				t.Errorf("%d: not a LoggingError: %v", i, err)
			}
			if n := len(c.Collections()); n != 0 {
				t.Errorf("%d: kept %d collections of a refused session", i, n)
			}
		}
	}
}

func TestCollectorGroups(t *testing.T) {
	var c Collector
	add := func(peer, thread, at, body string, out bool) {
		t.Helper()
		if err := c.Add(Message{Peer: peer, Thread: thread, Body: body, Time: ts(at), Outgoing: out, Logging: LoggingMay}); err != nil {
			t.Fatal(err)
		}
	}
	add("juliet@capulet.com/b", "t1", "2024-05-01T10:00:05Z", "second", true)
	add("juliet@capulet.com/b", "t1", "2024-05-01T10:00:01Z", "first", false)
	add("juliet@capulet.com/b", "t2", "2024-05-01T09:00:00Z", "other thread", false)
	add("nurse@capulet.com/k", "t1", "2024-05-01T11:00:00Z", "other peer", false)
	cols := c.Collections()
	if len(cols) != 3 {
		t.Fatalf("%d collections", len(cols))
	}
	if cols[0].Thread != "t2" || cols[1].Thread != "t1" || cols[1].With != "juliet@capulet.com/b" || cols[2].With != "nurse@capulet.com/k" {
		t.Errorf("order: %s, %s, %s", cols[0].ID(), cols[1].ID(), cols[2].ID())
	}
	if got := cols[1]; !got.Start.Equal(ts("2024-05-01T10:00:01Z")) || got.Entries[0].Body != "first" ||
		got.Entries[1].Kind != KindTo || got.Entries[0].Kind != KindFrom {
		t.Errorf("collection %+v", got)
	}
	if err := c.Add(Message{Peer: "not a jid@@", Logging: LoggingMay, Time: ts("2024-05-01T10:00:00Z")}); !errors.Is(err, ErrMalformed) {
		t.Errorf("bad peer: %v", err)
	}
	lim := Collector{Limit: 1}
	lim.Add(Message{Peer: "a@b", Logging: LoggingMay, Time: ts("2024-05-01T10:00:00Z")})
	if err := lim.Add(Message{Peer: "a@b", Logging: LoggingMay, Time: ts("2024-05-01T10:00:00Z")}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("limit: %v", err)
	}
}

func TestReadEvents(t *testing.T) {
	msgs, st, err := ReadEvents(strings.NewReader(string(readTestdata(t, "events.jsonl"))))
	if err != nil {
		t.Fatal(err)
	}
	if st.Lines != 8 || st.Messages != 4 || st.Skipped != 1 {
		t.Errorf("stats %+v", st)
	}
	want := []struct {
		peer, body string
		out        bool
		logging    Logging
	}{
		{"alice@localhost/a", "hello", false, LoggingMay},
		{"carol@localhost/c", "off the record", false, LoggingMustNot},
		{"alice@localhost/a", "hi back", true, LoggingMay},
		{"dave@localhost/d", "who knows", false, LoggingUnknown},
	}
	if len(msgs) != len(want) {
		t.Fatalf("%d messages: %+v", len(msgs), msgs)
	}
	for i, w := range want {
		m := msgs[i]
		if m.Peer != w.peer || m.Body != w.body || m.Outgoing != w.out || m.Logging != w.logging {
			t.Errorf("%d: %+v", i, m)
		}
	}
	if !msgs[0].Time.Equal(ts("2024-05-01T10:00:02Z").Add(500e6)) {
		t.Errorf("time %v", msgs[0].Time)
	}
	// Collecting them refuses the off-the-record session.
	var c Collector
	var refused []string
	for _, m := range msgs {
		if err := c.Add(m); err != nil {
			refused = append(refused, m.Thread)
		}
	}
	if strings.Join(refused, ",") != "t-otr,t-unknown" {
		t.Errorf("refused %v", refused)
	}
	for i, bad := range []string{
		"not json\n",
		`{"event":"message","from":"a@b","body":"x","time":"yesterday"}`,
		`{"event":"message","from":"","body":"x","time":"2024-05-01T10:00:00Z"}`,
		`{"event":"message","from":"a@b","body":"x","time":"2024-05-01T10:00:00Z","logging":"perhaps"}`,
		`{"event":"negotiated","thread":"t","logging":"perhaps"}`,
	} {
		if _, _, err := ReadEvents(strings.NewReader(bad)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%d: got %v", i, err)
		}
	}
	long := `{"event":"message","body":"` + strings.Repeat("x", maxEventLine) + `"}`
	if _, _, err := ReadEvents(strings.NewReader(long)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("long line: %v", err)
	}
}
