package esnstore

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/esn-project/esn/pkg/esn"
	"github.com/esn-project/esn/pkg/store"
	"github.com/esn-project/esn/pkg/xmltree"
)

func newSecrets(t *testing.T) (*Secrets, string) {
	t.Helper()
	dir := t.TempDir()
	s := New(func() (*store.DB, error) { return store.OpenDir(dir, store.Options{}) })
	return s, dir
}

func TestRetainedLifecycle(t *testing.T) {
	s, _ := newSecrets(t)
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	s.Now = func() time.Time { return now }
	const acct = "alice@example.org"
	steps := []struct {
		name string
		do   func() error
		peer string
		want [][]byte // secrets, most recent first
	}{
		{"empty", func() error { return nil }, "bob@example.com", nil},
		{"add", func() error { return s.AddRetained(acct, "bob@example.com", []byte("one")) }, "bob@example.com", [][]byte{[]byte("one")}},
		{"other peer untouched", func() error { return nil }, "carol@example.com", nil},
		{"add second", func() error {
			time.Sleep(2 * time.Millisecond)
			return s.AddRetained(acct, "bob@example.com", []byte("two"))
		},
			"bob@example.com", nil /* checked below */},
		{"replace first, filed under carol too", func() error { return s.ReplaceRetained(acct, 1, []byte("ONE"), "carol@example.com") },
			"carol@example.com", [][]byte{[]byte("ONE")}},
		{"replace vanished entry adds", func() error { return s.ReplaceRetained(acct, 99, []byte("new"), "dave@example.com") },
			"dave@example.com", [][]byte{[]byte("new")}},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		got, err := s.Retained(acct, st.peer)
		if err != nil {
			t.Fatalf("%s: Retained: %v", st.name, err)
		}
		if st.want == nil && st.name == "add second" {
			if len(got) != 2 {
				t.Fatalf("%s: %d entries, want 2", st.name, len(got))
			}
			continue
		}
		if len(got) != len(st.want) {
			t.Fatalf("%s: %d entries, want %d", st.name, len(got), len(st.want))
		}
		for i := range got {
			if !bytes.Equal(got[i].Secret, st.want[i]) {
				t.Errorf("%s: entry %d = %q, want %q", st.name, i, got[i].Secret, st.want[i])
			}
			if got[i].Verified {
				t.Errorf("%s: entry %d verified", st.name, i)
			}
		}
	}
}

func TestRetainedExpiry(t *testing.T) {
	s, _ := newSecrets(t)
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	s.Now = func() time.Time { return now }
	if err := s.AddRetained("a@x", "b@y", []byte("s")); err != nil {
		t.Fatal(err)
	}
	s.MaxAge = time.Hour
	// pkg/store stamps records with the real clock: age them by moving ours.
	now = time.Now().Add(2 * time.Hour)
	got, err := s.Retained("a@x", "b@y")
	if err != nil || len(got) != 0 {
		t.Fatalf("Retained after expiry = %v, %v; want none", got, err)
	}
	chains, err := s.Chains("a@x", "")
	if err != nil || len(chains) != 0 {
		t.Fatalf("expired entry not deleted: %v, %v", chains, err)
	}
}

func TestConfirm(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(s *Secrets)
		sas     string
		wantErr error
	}{
		{"no chain", func(s *Secrets) {}, "", ErrNoChain},
		{"confirm without SAS", func(s *Secrets) { s.AddRetained("a@x", "b@y", []byte("s")) }, "", nil},
		{"SAS matches", func(s *Secrets) {
			s.AddRetained("a@x", "b@y", []byte("s"))
			s.RecordSAS("a@x", "b@y", SASRecord{SAS: "abcde", Time: time.Now()})
		}, "abcde", nil},
		{"SAS differs", func(s *Secrets) {
			s.AddRetained("a@x", "b@y", []byte("s"))
			s.RecordSAS("a@x", "b@y", SASRecord{SAS: "abcde", Time: time.Now()})
		}, "xxxxx", ErrSASMismatch},
		{"SAS never recorded", func(s *Secrets) { s.AddRetained("a@x", "b@y", []byte("s")) }, "abcde", ErrSASMismatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := newSecrets(t)
			tc.setup(s)
			c, err := s.Confirm("a@x", "b@y", tc.sas)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Confirm = %v, want %v", err, tc.wantErr)
			}
			chains, cerr := s.Chains("a@x", "b@y")
			if cerr != nil {
				t.Fatal(cerr)
			}
			if tc.wantErr != nil {
				for _, ch := range chains {
					if ch.Verified {
						t.Errorf("chain %d verified after a failed confirm", ch.ID)
					}
				}
				return
			}
			if !c.Verified || len(chains) != 1 || !chains[0].Verified {
				t.Errorf("after confirm: %+v, chains %+v", c, chains)
			}
			got, _ := s.Retained("a@x", "b@y")
			if len(got) != 1 || !got[0].Verified {
				t.Errorf("Retained does not report the chain verified: %+v", got)
			}
		})
	}
}

// Two managers over two state files: the second session shares the
// retained secret, and once the user confirmed the SAS the third session
// reports the chain verified.
func TestWithManagers(t *testing.T) {
	sa, _ := newSecrets(t)
	sb, _ := newSecrets(t)
	ma, err := esn.NewManager(esn.Config{Local: "alice@example.org/a", Secrets: sa})
	if err != nil {
		t.Fatal(err)
	}
	mb, err := esn.NewManager(esn.Config{Local: "bob@example.com/b", Secrets: sb})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []struct{ srs, verified bool }{{false, false}, {true, false}, {true, true}} {
		evA, evB := negotiate(t, ma, mb)
		if evA.RetainedSecret != want.srs || evB.RetainedSecret != want.srs {
			t.Errorf("session %d: retained secret shared = %v/%v, want %v", i, evA.RetainedSecret, evB.RetainedSecret, want.srs)
		}
		if evA.Verified != want.verified || evB.Verified != want.verified {
			t.Errorf("session %d: verified = %v/%v, want %v", i, evA.Verified, evB.Verified, want.verified)
		}
		if evA.SAS != evB.SAS {
			t.Errorf("session %d: SAS differ", i)
		}
		if i == 1 {
			if _, err := sa.Confirm("alice@example.org", "bob@example.com", ""); err != nil {
				t.Fatal(err)
			}
			if _, err := sb.Confirm("bob@example.com", "alice@example.org", ""); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// negotiate runs one negotiation between two managers in memory.
func negotiate(t *testing.T, a, b *esn.Manager) (evA, evB esn.NegotiatedEvent) {
	t.Helper()
	_, out, err := a.Initiate("bob@example.com", esn.InitiateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	type hop struct {
		to *esn.Manager
		st *xmltree.Element
	}
	var q []hop
	for _, st := range out.Send {
		q = append(q, hop{b, st})
	}
	for len(q) > 0 {
		h := q[0]
		q = q[1:]
		st, err := xmltree.Parse([]byte(h.st.String()), xmltree.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		res, err := h.to.Receive(st)
		if err != nil {
			t.Fatalf("Receive: %v", err)
		}
		other := a
		if h.to == a {
			other = b
		}
		for _, s := range res.Send {
			q = append(q, hop{other, s})
		}
		for _, ev := range res.Events {
			switch ev := ev.(type) {
			case esn.NegotiatedEvent:
				if h.to == a {
					evA = ev
				} else {
					evB = ev
				}
			case esn.TerminatedEvent:
				t.Fatalf("terminated: %v", ev.Err)
			}
		}
	}
	if evA.Thread == "" || evB.Thread == "" {
		t.Fatal("negotiation did not complete")
	}
	for _, m := range []*esn.Manager{a, b} {
		_ = m.TerminateAll()
	}
	return evA, evB
}

func TestStateFileIsPrivate(t *testing.T) {
	s, dir := newSecrets(t)
	if err := s.AddRetained("a@x", "b@y", []byte("s")); err != nil {
		t.Fatal(err)
	}
	// The file is closed between operations: another opener gets it at once.
	db, err := store.Open(filepath.Join(dir, store.FileName), store.Options{LockTimeout: -1})
	if err != nil {
		t.Fatalf("state file still locked after the operation: %v", err)
	}
	db.Close()
}
