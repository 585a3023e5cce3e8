package main

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/esn-project/esn/pkg/pubkey"
	"github.com/esn-project/esn/pkg/transport"
	"github.com/esn-project/esn/pkg/xmltree"
)

// TestIntegrationDirectKeyRequest checks XEP-0189's direct request: a
// running esn answers an IQ-get carrying an empty <pubkey/> with its
// current key, and item-not-found when it has none.
func TestIntegrationDirectKeyRequest(t *testing.T) {
	srv := integrationServer(t)
	dir := t.TempDir()
	env := sessionEnv(srv, "alice", dir)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn := connectApp(ctx, t, env)
	defer conn.Close()
	bob := dialPeer(t, srv, "bob", "")

	request := func() (*xmltree.Element, error) {
		iq := xmltree.New("jabber:client", "iq")
		iq.SetAttr("type", "get")
		iq.SetAttr("to", conn.LocalJID().String())
		iq.AddChild(xmltree.New(pubkey.NS, "pubkey"))
		return bob.SendIQ(ctx, iq)
	}

	// No key yet: item-not-found, not service-unavailable (we support it).
	_, err := request()
	if !errors.Is(err, &transport.StanzaError{Condition: "item-not-found"}) {
		t.Fatalf("request before any key: got %v, want item-not-found", err)
	}

	// esn keys generate (same state directory), then the answer is the key.
	if r := runESN(t, env, "--json", "keys", "generate", "--bits", "2048"); r.code != 0 {
		t.Fatalf("keys generate exited %d", r.code)
	}
	ks, err := pubkey.OpenKeystore(env[envStateDir])
	if err != nil {
		t.Fatal(err)
	}
	local, err := ks.Current("alice@" + srv.Domain)
	if err != nil {
		t.Fatal(err)
	}
	reply, err := request()
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	el := reply.Child(pubkey.NS, "pubkey")
	if el == nil {
		t.Fatalf("reply without <pubkey/>: %s", reply)
	}
	got, err := pubkey.ParsePublicKeyXML([]byte(el.String()))
	if err != nil {
		t.Fatalf("parse the answered key: %v", err)
	}
	if got.Fingerprint() != local.Public.Fingerprint() {
		t.Errorf("answered key %v, local key %v", got.Fingerprint(), local.Public.Fingerprint())
	}
}
