package offline

import (
	"crypto"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/esn-project/esn/pkg/store"
)

func testStore(t *testing.T) (*Store, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "state")
	open := func() (*store.DB, error) { return store.OpenDir(dir, store.Options{}) }
	return NewStore(open, "Alice@example.org"), dir
}

func TestStore(t *testing.T) {
	st, dir := testStore(t)
	a, _, _ := keys(t)
	clk := newClock()
	prep := func(set Set, life time.Duration) *Secrets {
		p, err := Prepare(PublishConfig{Set: set, Owner: aliceBare, Signers: []crypto.Signer{a}, Now: clk.now, Expires: clk.now().Add(life)})
		if err != nil {
			t.Fatal(err)
		}
		return p.Secrets
	}
	sub, all, short := prep(SetSubscribers, time.Hour), prep(SetAll, 24*time.Hour), prep(SetAll, time.Minute)
	if err := st.Save(sub, all, short); err != nil {
		t.Fatal(err)
	}
	// Without a store key the secrets rely on the file mode (pkg/store).
	fi, err := os.Stat(filepath.Join(dir, store.FileName))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file %v %v", fi, err)
	}
	list, err := st.List()
	if err != nil || len(list) != 3 {
		t.Fatalf("List = %d, %v", len(list), err)
	}
	if err := st.Record(all.ID, []byte("d:1"), []byte("nb:1")); err != nil {
		t.Fatal(err)
	}
	if err := st.Record(sub.ID, []byte("d:2")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		set  string
		v    string
		want bool
	}{{all.ID, "d:1", true}, {all.ID, "nb:1", true}, {all.ID, "d:2", false}, {sub.ID, "d:2", true}, {short.ID, "d:1", false}} {
		if seen, err := st.Seen(tc.set, []byte(tc.v)); err != nil || seen != tc.want {
			t.Errorf("Seen(%s, %s) = %v, %v", tc.set, tc.v, seen, err)
		}
	}
	// Login: the subscribers' set leaves the store with its replay record.
	taken, err := st.Take(SetSubscribers)
	if err != nil || len(taken) != 1 || taken[0].ID != sub.ID || len(taken[0].keys) == 0 {
		t.Fatalf("Take = %v, %v", taken, err)
	}
	if again, _ := st.Take(SetSubscribers); len(again) != 0 {
		t.Errorf("the subscribers' set is still stored after Take")
	}
	if seen, _ := st.Seen(sub.ID, []byte("d:2")); seen {
		t.Error("the replay record of a taken set remained")
	}
	clk.advance(2 * time.Minute)
	gone, err := st.DeleteExpired(clk.now())
	if err != nil || len(gone) != 1 || gone[0] != short.ID {
		t.Fatalf("DeleteExpired = %v, %v", gone, err)
	}
	// The long-lived set and its replay record survive (O-41).
	if seen, _ := st.Seen(all.ID, []byte("d:1")); !seen {
		t.Error("the replay record of the long-lived set was lost")
	}
	if err := st.Delete(all.ID); err != nil {
		t.Fatal(err)
	}
	if list, _ := st.List(); len(list) != 0 {
		t.Errorf("%d sets left", len(list))
	}
	if seen, _ := st.Seen(all.ID, []byte("d:1")); seen {
		t.Error("Delete kept the replay record")
	}
}

// The replay record of an all-entities set persists across Receivers, as
// across esn runs.
func TestPersistentReplay(t *testing.T) {
	st, _ := testStore(t)
	p := newParty(t, SetAll, "")
	if err := st.Save(p.pub.Secrets); err != nil {
		t.Fatal(err)
	}
	bob := p.start(t, true)
	msg, _ := bob.SealBody("once only")
	recv := func() error {
		sets, err := st.List()
		if err != nil {
			t.Fatal(err)
		}
		r, err := NewReceiver(ReceiverConfig{Local: aliceFull, Sets: sets, Keys: p.aliceRng, Replay: st, Now: p.clk.now})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		_, err = r.Receive(wire(t, msg))
		return err
	}
	if err := recv(); err != nil {
		t.Fatal(err)
	}
	if err := recv(); !errors.Is(err, ErrReplay) {
		t.Fatalf("second run: %v, want ErrReplay", err)
	}
}

func TestStoreErrors(t *testing.T) {
	broken := NewStore(func() (*store.DB, error) { return nil, errors.New("disk on fire") }, aliceBare)
	if _, err := broken.List(); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("List = %v", err)
	}
	if err := broken.Record("x", []byte("y")); err == nil {
		t.Error("Record on a broken store succeeded")
	}
}
