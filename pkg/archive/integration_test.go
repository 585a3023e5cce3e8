package archive_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/esn-project/esn/internal/testserver"
	"github.com/esn-project/esn/pkg/archive"
	"github.com/esn-project/esn/pkg/pubkey"
	"github.com/esn-project/esn/pkg/transport"
	"github.com/esn-project/esn/pkg/xmltree"
	"mellium.im/xmpp/jid"
)

// Integration tests against Prosody with scripts/prosody/plugins/
// mod_esn_archive136.lua. Each test uses fresh accounts: archives are per
// account and other packages share the server.

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

type account struct {
	srv  testserver.Server
	acct testserver.Account
	conn *transport.Conn
	c    *archive.Client
}

func login(t *testing.T, srv testserver.Server, acct testserver.Account, resource string) *account {
	t.Helper()
	cas, err := srv.RootCAs()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	conn, err := transport.Dial(ctx, transport.Config{JID: acct.JID, Password: acct.Password, Server: srv.Addr, RootCAs: cas, Resource: resource})
	if err != nil {
		t.Fatalf("Dial %s: %v", acct.JID, err)
	}
	t.Cleanup(func() { conn.Close() })
	return &account{srv: srv, acct: acct, conn: conn, c: archive.NewClient(conn)}
}

func newUser(t *testing.T, prefix string) *account {
	t.Helper()
	srv := testserver.Env(t)
	a := login(t, srv, srv.NewAccount(t, prefix), "")
	info, err := a.conn.DiscoInfo(ctxT(t), jid.MustParse(srv.Domain))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{archive.NS, archive.FeatureAuto, archive.FeatureManage, archive.FeatureManual, archive.FeaturePref} {
		if !info.HasFeature(f) {
			t.Fatalf("the test server does not advertise %s: is mod_esn_archive136 loaded? (restart the server started by scripts/prosody.sh)", f)
		}
	}
	return a
}

// storedData returns the server's stored archive of the account: what an
// attacker with the server's disk would read.
func (a *account) storedData(t *testing.T) string {
	t.Helper()
	p := filepath.Join(a.srv.Dir, "data", a.srv.Domain, "esn_archive136", a.acct.JID.Localpart()+".dat")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("reading the server's archive store: %v", err)
	}
	return string(b)
}

var keyOnce = sync.OnceValues(func() (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, 2048) })

func ownKey(t *testing.T, owner string) (*pubkey.PublicKey, *rsa.PrivateKey) {
	t.Helper()
	priv, err := keyOnce()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	return pubkey.NewPublicKey(&priv.PublicKey, owner, now.Add(-time.Hour), now.AddDate(0, 1, 0)), priv
}

func conversation(start time.Time, n int) []archive.Entry {
	var out []archive.Entry
	for i := range n {
		k := archive.KindFrom
		if i%2 == 1 {
			k = archive.KindTo
		}
		out = append(out, archive.Entry{Kind: k, Time: start.Add(time.Duration(i*7) * time.Second), Body: fmt.Sprintf("secret line %d <&> ünïcode", i)})
	}
	return out
}

func isCondition(err error, cond string) bool {
	return errors.Is(err, &transport.StanzaError{Condition: cond})
}

func TestIntegrationEncryptedRoundTrip(t *testing.T) {
	a := newUser(t, "arcenc")
	pk, priv := ownKey(t, a.acct.JID.String())
	start := time.Now().UTC().Truncate(time.Second).Add(-time.Hour)
	entries := conversation(start, 9)
	coll := &archive.Collection{With: "juliet@capulet.example/balcony", Start: start, Thread: "thread-enc", Entries: entries}

	s, err := archive.NewSealer(nil, []archive.Recipient{archive.RecipientFor(pk)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Chunks of 4: three <save/>s, three <EncryptedData/> under one key.
	got, err := a.c.Upload(ctxT(t), coll, archive.UploadOptions{Sealer: s, ChunkEntries: 4})
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != 2 {
		t.Errorf("version after three chunks: %d, want 2", got.Version)
	}

	// The server's disk holds no plaintext.
	stored := a.storedData(t)
	for _, e := range entries {
		if strings.Contains(stored, e.Body) || strings.Contains(stored, "secret line") {
			t.Fatalf("the server stored plaintext %q", e.Body)
		}
	}
	if !strings.Contains(stored, "EncryptedData") {
		t.Fatalf("the store does not hold the encrypted data:\n%.500s", stored)
	}

	// Listed with crypt='true'.
	cols, r, err := a.c.List(ctxT(t), archive.Query{With: "juliet@capulet.example"}, archive.Page{Max: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(cols) != 1 || !cols[0].Crypt || cols[0].Thread != "thread-enc" || !cols[0].Start.Equal(start) || r.Count != 1 {
		t.Fatalf("list: %+v %+v", cols, r)
	}

	// Retrieved page by page (two EncryptedData per page), then decrypted.
	all, err := a.c.RetrieveAll(ctxT(t), coll.With, start, 2, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(all.Encrypted) != 3 || len(all.Keys) != 1 {
		t.Fatalf("retrieved %d data, %d keys", len(all.Encrypted), len(all.Keys))
	}
	plain, err := archive.Decrypt(all, []archive.Identity{archive.IdentityFor(pk, priv)}, archive.DecryptOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(plain, entries) {
		t.Fatalf("decrypted\n%+v\nwant\n%+v", plain, entries)
	}

	// Filtering keys by name: a name we do not hold returns no keys.
	page, _, err := a.c.Retrieve(ctxT(t), coll.With, start, archive.Page{Max: 1}, "someone-else")
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Keys) != 0 || len(page.Encrypted) != 1 {
		t.Fatalf("filtered retrieve: %d keys, %d data", len(page.Keys), len(page.Encrypted))
	}
	if _, err := archive.Decrypt(page, []archive.Identity{archive.IdentityFor(pk, priv)}, archive.DecryptOptions{}); !errors.Is(err, archive.ErrNoKey) {
		t.Fatalf("decrypting without keys: %v", err)
	}

	// Plaintext may not be appended to an encrypted collection.
	_, err = a.c.Save(ctxT(t), &archive.Collection{With: coll.With, Start: start, Entries: entries[:1]})
	if !isCondition(err, "not-acceptable") {
		t.Fatalf("mixing plaintext into an encrypted collection: %v", err)
	}

	// Same thread: found again for appending.
	found, err := a.c.FindThread(ctxT(t), coll.With, "thread-enc", 100)
	if err != nil || found == nil || !found.Start.Equal(start) {
		t.Fatalf("FindThread: %+v %v", found, err)
	}

	// Removed, then gone.
	if err := a.c.Remove(ctxT(t), archive.RemoveQuery{With: coll.With, Start: start}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.c.Retrieve(ctxT(t), coll.With, start, archive.Page{Max: 1}); !isCondition(err, "item-not-found") {
		t.Fatalf("retrieve after remove: %v", err)
	}
	if err := a.c.Remove(ctxT(t), archive.RemoveQuery{With: coll.With, Start: start}); !isCondition(err, "item-not-found") {
		t.Fatalf("second remove: %v", err)
	}
}

func TestIntegrationPlaintextIsStoredAsIs(t *testing.T) {
	// The control for the test above: the store check can fail.
	a := newUser(t, "arcplain")
	start := time.Now().UTC().Truncate(time.Second).Add(-time.Hour)
	entries := conversation(start, 5)
	entries = append(entries, archive.Entry{Kind: archive.KindNote, Time: start.Add(time.Minute), Body: "my note"})
	coll := &archive.Collection{With: "romeo@montague.example/orchard", Start: start, Subject: "plain", Entries: entries}
	if _, err := a.c.Upload(ctxT(t), coll, archive.UploadOptions{ChunkEntries: 2}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(a.storedData(t), "secret line 3") {
		t.Fatal("a plaintext collection's text is not in the store: the encrypted test's check proves nothing")
	}
	all, err := a.c.RetrieveAll(ctxT(t), coll.With, start, 2, 100)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(all.Entries, entries) || all.Subject != "plain" || all.Version != 2 {
		t.Fatalf("retrieved %+v\nwant %+v", all, entries)
	}
	// Paging: the first page names the total.
	page, r, err := a.c.Retrieve(ctxT(t), coll.With, start, archive.Page{Max: 4})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Entries) != 4 || r.Count != 6 || r.FirstIndex != 0 || r.Last == "" {
		t.Fatalf("page %d entries, %+v", len(page.Entries), r)
	}
	rest, r2, err := a.c.Retrieve(ctxT(t), coll.With, start, archive.Page{Max: 4, After: r.Last})
	if err != nil || len(rest.Entries) != 2 || r2.FirstIndex != 4 {
		t.Fatalf("second page: %d entries, %+v, %v", len(rest.Entries), r2, err)
	}
}

func TestIntegrationListPagingRemoveModified(t *testing.T) {
	a := newUser(t, "arclist")
	ctx := ctxT(t)
	since := time.Now().UTC().Add(-time.Minute)
	base := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	withs := []string{"juliet@capulet.example/a", "juliet@capulet.example/b", "nurse@capulet.example/k", "romeo@montague.example/o", "juliet@capulet.example/a"}
	for i, w := range withs {
		st := base.Add(time.Duration(i) * time.Hour)
		if _, err := a.c.Save(ctx, &archive.Collection{With: w, Start: st, Entries: conversation(st, 1)}); err != nil {
			t.Fatal(err)
		}
	}
	// Page through everything, two at a time.
	var seen []string
	p := archive.Page{Max: 2}
	for range 10 {
		cols, r, err := a.c.List(ctx, archive.Query{}, p)
		if err != nil {
			t.Fatal(err)
		}
		if r.Count != 5 {
			t.Fatalf("count %d", r.Count)
		}
		for _, c := range cols {
			seen = append(seen, c.ID())
		}
		if len(cols) < 2 {
			break
		}
		p.After = r.Last
	}
	if len(seen) != 5 || !strings.HasPrefix(seen[0], "2024-03-01T12:00:00Z juliet") || !strings.HasPrefix(seen[4], "2024-03-01T16:00:00Z") {
		t.Fatalf("paged list %q", seen)
	}
	all, err := a.c.ListAll(ctx, archive.Query{}, 2, 100)
	if err != nil || len(all) != 5 {
		t.Fatalf("ListAll: %d, %v", len(all), err)
	}
	// JID matching: a bare JID matches its resources, a domain its users,
	// exactmatch the string only, start/end a time range.
	for _, tc := range []struct {
		q    archive.Query
		want int
	}{
		{archive.Query{With: "juliet@capulet.example"}, 3},
		{archive.Query{With: "juliet@capulet.example/a"}, 2},
		{archive.Query{With: "capulet.example"}, 4},
		{archive.Query{With: "capulet.example", ExactMatch: true}, 0},
		{archive.Query{Start: base.Add(time.Hour), End: base.Add(3 * time.Hour)}, 2},
		{archive.Query{With: "nobody@nowhere.example"}, 0},
	} {
		cols, _, err := a.c.List(ctx, tc.q, archive.Page{Max: 50})
		if err != nil || len(cols) != tc.want {
			t.Errorf("%+v: %d collections, want %d (%v)", tc.q, len(cols), tc.want, err)
		}
	}
	// Remove a range of one user's collections, then everything.
	if err := a.c.Remove(ctx, archive.RemoveQuery{With: "juliet@capulet.example", Start: base, End: base.Add(90 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if cols, _, _ := a.c.List(ctx, archive.Query{}, archive.Page{Max: 50}); len(cols) != 3 {
		t.Fatalf("after range remove: %d", len(cols))
	}
	if err := a.c.Remove(ctx, archive.RemoveQuery{With: "tybalt@capulet.example", Start: base, End: base.Add(time.Hour)}); !isCondition(err, "item-not-found") {
		t.Fatalf("remove of nothing: %v", err)
	}
	// Replication: three collections left (changed), two removed, in
	// order of modification.
	changes, r, err := a.c.Modified(ctx, since, archive.Page{Max: 100})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, c := range changes {
		k := "changed"
		if c.Removed {
			k = "removed"
		}
		kinds = append(kinds, k)
	}
	if strings.Join(kinds, ",") != "changed,changed,changed,removed,removed" || r.Last == "" {
		t.Fatalf("modified: %v %+v", kinds, r)
	}
	// Only what changed after the last sync.
	more, _, err := a.c.Modified(ctx, since, archive.Page{Max: 100, After: r.Last})
	if err != nil || len(more) != 0 {
		t.Fatalf("modified after last: %+v %v", more, err)
	}
	if err := a.c.Remove(ctx, archive.RemoveQuery{All: true}); err != nil {
		t.Fatal(err)
	}
	if cols, _, err := a.c.List(ctx, archive.Query{}, archive.Page{Max: 50}); err != nil || len(cols) != 0 {
		t.Fatalf("after remove all: %d %v", len(cols), err)
	}
}

func TestIntegrationPrefs(t *testing.T) {
	a := newUser(t, "arcpref")
	ctx := ctxT(t)
	p, err := a.c.Prefs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Default.Unset || p.Default.Save != archive.SaveFalse || p.Auto.Save {
		t.Fatalf("server defaults: %+v %+v", p.Default, p.Auto)
	}

	// A second resource that asked for the prefs gets pushes (raw client:
	// it shares no code with pkg/transport).
	other := testserver.Login(t, a.srv, a.acct, testserver.DialOptions{Resource: "watcher"})
	if _, err := other.IQ(ctx, "get", "", "<pref xmlns='urn:xmpp:archive'/>"); err != nil {
		t.Fatal(err)
	}
	set := &archive.Prefs{
		Default: &archive.DefaultPref{OTR: archive.OTRPrefer, Save: archive.SaveBody, Expire: 7 * 24 * time.Hour},
		Items:   []archive.ItemPref{{JID: "juliet@capulet.example", OTR: archive.OTRRequire, Save: archive.SaveFalse}},
		Methods: []archive.MethodPref{{Type: archive.MethodManual, Use: archive.UsePrefer}},
	}
	if err := a.c.SetPrefs(ctx, set); err != nil {
		t.Fatal(err)
	}
	push, err := other.Expect(ctx, func(e *xmltree.Element) bool {
		return e.Name.Local == "iq" && e.Attribute("type") == "set" && e.Child(archive.NS, "pref") != nil
	})
	if err != nil {
		t.Fatal(err)
	}
	pp, err := archive.ParsePush(push)
	if err != nil || pp.Prefs == nil || pp.Prefs.Default == nil || len(pp.Prefs.Items) != 1 || len(pp.Prefs.Methods) != 3 {
		t.Fatalf("push %s: %+v %v", push, pp, err)
	}
	other.Send(ctx, "<iq type='result' id='"+push.Attribute("id")+"'/>")

	got, err := a.c.Prefs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got.Default.Unset || got.Default.OTR != archive.OTRPrefer || got.Default.Expire != 7*24*time.Hour {
		t.Errorf("default %+v", got.Default)
	}
	if len(got.Items) != 1 || got.Items[0].OTR != archive.OTRRequire {
		t.Errorf("items %+v", got.Items)
	}
	if u, _ := got.Method(archive.MethodManual); u != archive.UsePrefer {
		t.Errorf("manual method %q", u)
	}
	if u, _ := got.Method(archive.MethodAuto); u != archive.UseConcede {
		t.Errorf("unspecified methods must stay unchanged: auto %q", u)
	}

	// Session rules get a server timeout; removals work and are pushed.
	if err := a.c.SetPrefs(ctx, &archive.Prefs{Sessions: []archive.SessionPref{{Thread: "th1", Save: archive.SaveFalse}}}); err != nil {
		t.Fatal(err)
	}
	got, _ = a.c.Prefs(ctx)
	if len(got.Sessions) != 1 || got.Sessions[0].Timeout <= 0 {
		t.Errorf("sessions %+v", got.Sessions)
	}
	if err := a.c.RemoveSessions(ctx, "th1"); err != nil {
		t.Fatal(err)
	}
	if err := a.c.RemoveItems(ctx, "juliet@capulet.example"); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Expect(ctx, func(e *xmltree.Element) bool { return e.Child(archive.NS, "itemremove") != nil }); err != nil {
		t.Fatal(err)
	}
	got, _ = a.c.Prefs(ctx)
	if len(got.Items) != 0 || len(got.Sessions) != 0 {
		t.Errorf("after removals: %+v %+v", got.Items, got.Sessions)
	}

	// Server-side checks: otr=require needs save=false; server-side
	// encryption (XEP-0241 §3) is not offered.
	_, err = other.IQ(ctx, "set", "", "<pref xmlns='urn:xmpp:archive'><default otr='require' save='body'/></pref>")
	if err == nil || !strings.Contains(err.Error(), "not-acceptable") {
		t.Errorf("otr=require save=body: %v", err)
	}
	if err := a.c.SetAuto(ctx, archive.Auto{Save: true}); err != nil {
		t.Fatal(err)
	}
	_, err = other.IQ(ctx, "set", "", "<auto xmlns='urn:xmpp:archive' save='true' encrypt='true'/>")
	if err == nil || !strings.Contains(err.Error(), "feature-not-implemented") {
		t.Errorf("auto encrypt: %v", err)
	}
}

func TestIntegrationAutoArchiveAndOpenRemove(t *testing.T) {
	a := newUser(t, "arcauto")
	ctx := ctxT(t)
	srv := a.srv
	peerAcct := srv.NewAccount(t, "arcpeer")
	peer := testserver.Login(t, srv, peerAcct, testserver.DialOptions{Resource: "p", Presence: true})
	if err := a.c.SetPrefs(ctx, &archive.Prefs{Default: &archive.DefaultPref{OTR: archive.OTRConcede, Save: archive.SaveBody}}); err != nil {
		t.Fatal(err)
	}
	if err := a.c.SetAuto(ctx, archive.Auto{Save: true}); err != nil {
		t.Fatal(err)
	}
	msg := func(body, thread string) {
		t.Helper()
		if err := peer.Send(ctx, fmt.Sprintf("<message type='chat' to='%s'><body>%s</body><thread>%s</thread></message>", a.conn.LocalJID(), body, thread)); err != nil {
			t.Fatal(err)
		}
	}
	// The second message on the thread is a marker that the first arrived.
	got := make(chan string, 4)
	a.conn.OnMessage(func(m *xmltree.Element) { got <- m.ChildText("", "body") })
	msg("recorded by the server", "auto-thread")
	msg("also recorded", "auto-thread")
	for range 2 {
		select {
		case <-got:
		case <-ctx.Done():
			t.Fatal("messages not delivered")
		}
	}
	cols, _, err := a.c.List(ctx, archive.Query{With: peerAcct.JID.String()}, archive.Page{Max: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(cols) != 1 || cols[0].Thread != "auto-thread" {
		t.Fatalf("auto-archived collections: %+v", cols)
	}
	c, err := a.c.RetrieveAll(ctx, cols[0].With, cols[0].Start, 10, 100)
	if err != nil || len(c.Entries) != 2 || c.Entries[0].Body != "recorded by the server" {
		t.Fatalf("auto-archived entries %+v %v", c, err)
	}
	// OTR agreed: drop what the server is recording.
	if err := a.c.Remove(ctx, archive.RemoveQuery{With: peerAcct.JID.Bare().String(), Open: true}); err != nil {
		t.Fatal(err)
	}
	if cols, _, _ := a.c.List(ctx, archive.Query{With: peerAcct.JID.String()}, archive.Page{Max: 10}); len(cols) != 0 {
		t.Fatalf("after remove open: %+v", cols)
	}
	// A thread with save=false is not recorded.
	if err := a.c.SetPrefs(ctx, &archive.Prefs{Sessions: []archive.SessionPref{{Thread: "otr-thread", Save: archive.SaveFalse}}}); err != nil {
		t.Fatal(err)
	}
	msg("never stored", "otr-thread")
	select {
	case <-got:
	case <-ctx.Done():
		t.Fatal("message not delivered")
	}
	if cols, _, _ := a.c.List(ctx, archive.Query{With: peerAcct.JID.String()}, archive.Page{Max: 10}); len(cols) != 0 {
		t.Fatalf("a save=false session was archived: %+v", cols)
	}
	if strings.Contains(a.storedData(t), "never stored") {
		t.Fatal("the store holds a save=false message")
	}
}
