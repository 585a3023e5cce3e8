package transcript

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/esn-project/esn/pkg/crypt"
	"github.com/esn-project/esn/pkg/esn"
	"github.com/esn-project/esn/pkg/xmltree"
)

// rig runs a XEP-0116 session with re-keying between two managers in
// memory and records alice's trace and both key logs. Stanzas are queued
// and delivered by flush, so that both sides can send before either
// receives (crossing re-keys).
type rig struct {
	t      testing.TB
	a, b   *esn.Manager
	thread string
	tr     strings.Builder
	kl     bytes.Buffer
	queue  []hop
}

type hop struct {
	to *esn.Manager
	st *xmltree.Element
}

func newRig(t testing.TB) *rig {
	t.Helper()
	r := &rig{t: t}
	logf := func(e esn.KeyLogEntry) { fmt.Fprintln(&r.kl, e.String()) }
	pr := esn.DefaultPreferences(esn.ProfileXEP0116)
	pr.Groups = []int{5}
	pr.RekeyFreq = 1
	suite := crypt.XEPSuite()
	suite.MinGroup = 5
	var err error
	if r.a, err = esn.NewManager(esn.Config{Local: "alice@example.org/pda", Preferences: pr, Suite: &suite, KeyLog: logf}); err != nil {
		t.Fatal(err)
	}
	if r.b, err = esn.NewManager(esn.Config{Local: "bob@example.com/laptop", Preferences: pr, Suite: &suite, KeyLog: logf}); err != nil {
		t.Fatal(err)
	}
	r.tr.WriteString("esn: connected as alice@example.org/pda\n")
	th, out, err := r.a.Initiate("bob@example.com", esn.InitiateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r.thread = th
	r.post(r.a, out)
	r.flush()
	return r
}

func (r *rig) other(m *esn.Manager) *esn.Manager {
	if m == r.a {
		return r.b
	}
	return r.a
}

func (r *rig) post(from *esn.Manager, out esn.Output) {
	for _, s := range out.Send {
		r.queue = append(r.queue, hop{r.other(from), s})
	}
}

func (r *rig) flush() {
	r.t.Helper()
	for len(r.queue) > 0 {
		h := r.queue[0]
		r.queue = r.queue[1:]
		dir := "SEND"
		if h.to == r.a {
			dir = "RECV"
		}
		wire := h.st.String()
		fmt.Fprintf(&r.tr, "%s: %s\n", dir, wire)
		st, err := xmltree.Parse([]byte(wire), xmltree.Limits{})
		if err != nil {
			r.t.Fatal(err)
		}
		out, err := h.to.Receive(st)
		if err != nil {
			r.t.Fatalf("receive: %v", err)
		}
		for _, ev := range out.Events {
			if te, ok := ev.(esn.TerminatedEvent); ok && te.Err != nil {
				r.t.Fatalf("terminated: %v", te.Err)
			}
		}
		r.post(h.to, out)
	}
}

// do runs one action without delivering: "a:BODY" / "b:BODY" send a
// message, "A" / "B" re-key, "." delivers everything queued.
func (r *rig) do(actions ...string) {
	r.t.Helper()
	for _, act := range actions {
		var (
			out esn.Output
			err error
		)
		switch {
		case act == ".":
			r.flush()
			continue
		case act == "A":
			out, err = r.a.Rekey(r.thread)
		case act == "B":
			out, err = r.b.Rekey(r.thread)
		case strings.HasPrefix(act, "a:"):
			out, err = r.a.EncryptBody(r.thread, act[2:])
		case strings.HasPrefix(act, "b:"):
			out, err = r.b.EncryptBody(r.thread, act[2:])
		default:
			r.t.Fatalf("bad action %q", act)
		}
		if err != nil {
			r.t.Fatalf("%s: %v", act, err)
		}
		from := r.a
		if act[0] == 'b' || act[0] == 'B' {
			from = r.b
		}
		r.post(from, out)
	}
}

func (r *rig) terminate() {
	r.t.Helper()
	out, err := r.a.Terminate(r.thread)
	if err != nil {
		r.t.Fatal(err)
	}
	r.post(r.a, out)
	r.flush()
}

// rekeyConversation: re-keys by each side, acknowledged, and a crossing
// pair, with messages in both directions between them.
func rekeyConversation(t testing.TB) *rig {
	r := newRig(t)
	r.do("a:m1", ".", "b:r1", ".",
		"A", ".", "a:m2", ".", "b:r2", ".", // alice re-keys; bob answers under acceptor keys
		"B", ".", "b:r3", ".", "a:m3", ".", // bob re-keys
		"A", "B", ".", // crossing re-keys
		"a:m4", "b:r4", ".", "a:m5", ".", "b:r5", ".",
		"A", "a:m6", ".", "b:r6", ".",
		"A", "a:m7", "B", ".", "a:m8", ".", "b:r7", ".") // crossing after a message under the new keys
	r.terminate()
	return r
}

var rekeyBodies = "m1,r1,m2,r2,r3,m3,m4,r4,m5,r5,m6,r6,m7,m8,r7"

var allRekeyLabels = []string{"ESN_REKEY_I_1", "ESN_REKEY_R_1", "ESN_REKEY_I_2", "ESN_REKEY_R_2", "ESN_REKEY_I_3", "ESN_REKEY_I_4", "ESN_REKEY_R_3"}

func TestDecodeAcrossRekeys(t *testing.T) {
	r := rekeyConversation(t)
	for _, l := range allRekeyLabels {
		if !strings.Contains(r.kl.String(), l+" ") {
			t.Errorf("key log lacks %s:\n%s", l, r.kl.String())
		}
	}
	steps, tr := replay(t, r.tr.String(), r.kl.String())
	if st, v, bad := tr.FirstFailure(); bad {
		t.Fatalf("step %d (%s): %s failed: %s", st.N, st.Kind, v.Name, v.Note)
	}
	var got []string
	keys, kept, okLabels := 0, 0, map[string]bool{}
	for _, s := range steps {
		if s.Body != "" {
			got = append(got, s.Body)
		}
		for _, v := range s.Values {
			if v.Check == NeedsKey {
				t.Errorf("step %d: %s not checked: %s", s.N, v.Name, v.Note)
			}
			if v.Name == "<key/> e'" {
				keys++
			}
			if v.Name == "<new/>" {
				kept++ // a crossing: the sender kept its own re-key's keys
			}
			if strings.HasPrefix(v.Name, "ESN_REKEY_") && v.Check == OK {
				okLabels[v.Name] = true
			}
		}
	}
	if strings.Join(got, ",") != rekeyBodies {
		t.Errorf("decrypted bodies %q, want %s", got, rekeyBodies)
	}
	if keys != 7 || kept != 1 {
		t.Errorf("%d <key/> steps, want 7; %d acknowledgements with unchanged keys, want 1", keys, kept)
	}
	for _, l := range allRekeyLabels {
		if !okLabels[l] {
			t.Errorf("no verified step for %s", l)
		}
	}
	if !hasKind(steps, "terminate-ack (encrypted)") {
		t.Error("the encrypted terminate acknowledgement was not decoded")
	}
}

func hasKind(steps []Step, kind string) bool {
	for _, s := range steps {
		if s.Kind == kind {
			return true
		}
	}
	return false
}

// A wrong re-key line is flagged at the first stanza under its keys; a
// missing one leaves the rest of that direction unchecked, not failed.
func TestDecodeRekeyKeyLogErrors(t *testing.T) {
	r := rekeyConversation(t)
	corrupt := func(label string) string {
		re := regexp.MustCompile(`(?m)^(` + label + ` [0-9a-f]+ )([0-9a-f])`)
		if !re.MatchString(r.kl.String()) {
			t.Fatalf("no %s line", label)
		}
		return re.ReplaceAllStringFunc(r.kl.String(), func(l string) string {
			last := l[len(l)-1]
			if last == '0' {
				return l[:len(l)-1] + "1"
			}
			return l[:len(l)-1] + "0"
		})
	}
	drop := func(label string) string {
		return regexp.MustCompile(`(?m)^`+label+` .*\n`).ReplaceAllString(r.kl.String(), "")
	}
	tests := []struct {
		name, keylog string
		wantFail     string // name of the first failed value; "" = none
		wantBodies   string
	}{
		{"initiator re-key altered", corrupt("ESN_REKEY_I_1"), "ESN_REKEY_I_1", ""},
		{"responder re-key altered", corrupt("ESN_REKEY_R_1"), "ESN_REKEY_R_1", ""},
		{"crossing re-key altered", corrupt("ESN_REKEY_R_2"), "ESN_REKEY_R_2", ""},
		{"re-key missing", drop("ESN_REKEY_I_2"), "", "m1,r1,m2,r2,r3,m3,r4,r5,r6,r7"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			steps, tr := replay(t, r.tr.String(), tc.keylog)
			st, v, bad := tr.FirstFailure()
			if tc.wantFail == "" {
				if bad {
					t.Fatalf("step %d: %s failed: %s", st.N, v.Name, v.Note)
				}
				var got []string
				needs := 0
				for _, s := range steps {
					if s.Body != "" {
						got = append(got, s.Body)
					}
					for _, v := range s.Values {
						if v.Check == NeedsKey {
							needs++
						}
					}
				}
				if strings.Join(got, ",") != tc.wantBodies {
					t.Errorf("bodies %q, want %s", got, tc.wantBodies)
				}
				if needs == 0 {
					t.Error("nothing marked as needing a key")
				}
				return
			}
			if !bad {
				t.Fatal("no failure flagged")
			}
			if !strings.Contains(v.Name, tc.wantFail) {
				t.Errorf("first failure at step %d: %q (%s), want %s", st.N, v.Name, v.Note, tc.wantFail)
			}
		})
	}
}
