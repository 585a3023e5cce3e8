package crypt_test

import (
	"fmt"
	"log"

	"github.com/esn-project/esn/pkg/crypt"
	"github.com/esn-project/esn/pkg/xmltree"
)

// This example runs the cryptographic core of a negotiation between Alice
// and Bob (the forms and messages are package esn's business), then sends
// one encrypted message and re-keys.
func Example() {
	suite := crypt.XEPSuite() // aes128-ctr, sha256
	group, err := crypt.GroupByID(14)
	if err != nil {
		log.Fatal(err)
	}

	// Diffie-Hellman: each side draws a key pair; Alice first commits to e.
	x, _ := group.GenerateKey(nil, crypt.ShortExponent)
	y, _ := group.GenerateKey(nil, crypt.ShortExponent)
	he := x.Commitment()
	if !crypt.VerifyCommitment(he, x.Public()) {
		log.Fatal("commitment")
	}

	// K and the session keys. Bob chose the counter C_A.
	kA, _ := suite.SharedKey(x, y.Public())
	kB, _ := suite.SharedKey(y, x.Public())
	alice, bob := suite.SessionKeys(kA, crypt.Initiator), suite.SessionKeys(kB, crypt.Responder)
	cA, _ := crypt.GenerateCounter(nil)

	// Alice proves her identity; the counter runs on into the traffic.
	nA, _ := crypt.GenerateNonce(nil)
	nB, _ := crypt.GenerateNonce(nil)
	formA, formA2 := []byte("<field>…</field>"), []byte("<field>…</field>")
	macA := suite.MacA(alice.SIGMA, nA, nB, x.Public(), nil, formA, formA2)
	sendCtr := cA
	idA, mA, _ := suite.EncryptIdentity(alice.Cipher, alice.MAC, &sendCtr, macA)
	recvCtr := cA
	if _, err := suite.DecryptIdentity(alice.Cipher, alice.MAC, &recvCtr, idA, mA); err != nil {
		log.Fatal(err)
	}
	fmt.Println("SAS has", len(suite.SAS(mA, []byte("<form_B/>"))), "characters")

	// XEP-0200 streams for both sides.
	as, err := crypt.NewStream(crypt.StreamConfig{
		Suite: suite, Group: group, Own: x, PeerPublic: y.Public(), RekeyFreq: 1,
		SendCipher: alice.Cipher, SendMAC: alice.MAC, SendCounter: sendCtr,
		RecvCipher: bob.Cipher, RecvMAC: bob.MAC, RecvCounter: cA.Peer(),
	})
	if err != nil {
		log.Fatal(err)
	}
	bs, err := crypt.NewStream(crypt.StreamConfig{
		Suite: suite, Group: group, Own: y, PeerPublic: x.Public(), RekeyFreq: 1,
		SendCipher: bob.Cipher, SendMAC: bob.MAC, SendCounter: cA.Peer(),
		RecvCipher: alice.Cipher, RecvMAC: alice.MAC, RecvCounter: recvCtr,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer as.Close()
	defer bs.Close()
	kA.Erase()
	kB.Erase()

	msg := xmltree.New(crypt.NSClient, "message").
		AddChild(xmltree.New(crypt.NSClient, "thread").AddText("ffd7076498744578")).
		AddChild(xmltree.New(crypt.NSClient, "body").AddText("Hello, Bob!"))
	wire, err := as.Seal(msg)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("body in the clear:", wire.Child(crypt.NSClient, "body") != nil)

	_, opened, err := bs.OpenStanza(wire)
	if err != nil {
		log.Fatal(err) // terminate the session
	}
	fmt.Println("Bob reads:", opened.Children[0].Text())

	// Alice re-keys with her next stanza.
	if err := as.Rekey(); err != nil {
		log.Fatal(err)
	}
	wire, _ = as.Seal(msg)
	_, opened, err = bs.OpenStanza(wire)
	fmt.Println("re-keyed:", opened.Rekeyed, err)
	// Output:
	// SAS has 5 characters
	// body in the clear: false
	// Bob reads: Hello, Bob!
	// re-keyed: true <nil>
}
