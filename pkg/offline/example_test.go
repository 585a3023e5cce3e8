package offline_test

import (
	"crypto"
	"crypto/rsa"
	"fmt"

	"github.com/esn-project/esn/pkg/offline"
)

// trustAll is a stand-in for the account's trust store (cmd/esn uses
// pkg/pubkey and pkg/store). Real code never trusts blindly.
type trustAll map[string]*rsa.PublicKey

func (t trustAll) TrustedKeys(peer string) ([]*rsa.PublicKey, error) {
	return []*rsa.PublicKey{t[peer]}, nil
}

func (t trustAll) CheckKey(peer string, key *rsa.PublicKey) error {
	if t[peer].Equal(key) {
		return nil
	}
	return fmt.Errorf("%s: unknown key", peer)
}

// The whole exchange without a network: Alice publishes, Bob sends one
// message, Alice decrypts it when she is back.
func Example() {
	var aliceKey, bobKey crypto.Signer // RSA keys, e.g. from pubkey.Keystore
	if aliceKey == nil {
		return // compiled, not run: key generation is slow
	}
	// Alice, before going offline: store pub.Secrets, then publish
	// pub.Form as item offline.ItemID on offline.SetSubscribers.Node().
	pub, _ := offline.Prepare(offline.PublishConfig{Set: offline.SetSubscribers, Owner: "alice@example.org",
		Signers: []crypto.Signer{aliceKey}})

	// Bob, with the fetched item.
	trust := trustAll{"alice@example.org": aliceKey.Public().(*rsa.PublicKey),
		"bob@example.com": bobKey.Public().(*rsa.PublicKey)}
	opts, _ := offline.ParseOptions(pub.Form, offline.SetSubscribers, "alice@example.org")
	if err := opts.Verify(trust); err != nil {
		return // never send without a verified signature
	}
	s, _ := offline.Start(opts, offline.SendConfig{Local: "bob@example.com/laptop", Signer: bobKey, OneShot: true})
	stanza, _ := s.SealBody("see you tomorrow")

	// Alice, back online, with the stored secrets.
	r, _ := offline.NewReceiver(offline.ReceiverConfig{Sets: []*offline.Secrets{pub.Secrets}, Keys: trust})
	defer r.Close()
	events, _ := r.Receive(stanza)
	for _, ev := range events {
		if m, ok := ev.(offline.MessageEvent); ok {
			fmt.Println(m.Peer, m.Body)
		}
	}
}
