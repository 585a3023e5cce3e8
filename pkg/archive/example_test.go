package archive_test

import (
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"time"

	"github.com/esn-project/esn/pkg/archive"
	"github.com/esn-project/esn/pkg/pubkey"
)

// Encrypting a collection to the user's own key (XEP-0241 §2) and reading
// it back. With a Client, the encrypted collection goes up with
// Client.Save (or Client.Upload with a Sealer) and comes back with
// Client.RetrieveAll.
func ExampleEncrypt() {
	priv, _ := rsa.GenerateKey(rand.Reader, 2048)
	now := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	own := pubkey.NewPublicKey(&priv.PublicKey, "romeo@montague.example", now, now.AddDate(1, 0, 0))

	c := &archive.Collection{With: "juliet@capulet.example/balcony", Start: now, Thread: "t1", Entries: []archive.Entry{
		{Kind: archive.KindFrom, Time: now, Body: "Art thou not Romeo?"},
		{Kind: archive.KindTo, Time: now.Add(11 * time.Second), Body: "Neither, fair saint."},
	}}
	if err := archive.Encrypt(nil, c, []archive.Recipient{archive.RecipientFor(own)}); err != nil {
		panic(err)
	}
	fmt.Println(len(c.Entries), len(c.Encrypted), len(c.Keys), c.Keys[0].Algorithm)

	entries, err := archive.Decrypt(c, []archive.Identity{archive.IdentityFor(own, priv)}, archive.DecryptOptions{})
	if err != nil {
		panic(err)
	}
	for _, e := range entries {
		fmt.Printf("%s +%v %s\n", e.Kind, e.Time.Sub(now), e.Body)
	}
	// Output:
	// 0 1 1 http://www.w3.org/2009/xmlenc11#rsa-oaep
	// from +0s Art thou not Romeo?
	// to +11s Neither, fair saint.
}
