package transcript

import "github.com/esn-project/esn/pkg/crypt"

// openedIdentity is an identity (ID_X) that decrypted and whose identity
// MAC (M_X) verified under one logged secret.
type openedIdentity struct {
	secret []byte              // the logged K or K_final that verified
	a, b   crypt.DirectionKeys // the initiator's and responder's keys from it
	plain  []byte              // the decrypted identity proof
	after  crypt.Counter       // the sender's counter after the identity
}

// openIdentity tries each logged secret in turn: it derives the keys of
// both directions and opens the identity that role from encrypted starting
// at counter ctr. A key log may hold several secrets for one thread (both
// parties log, sessions may be replayed), so the first one whose identity
// MAC verifies wins; ok is false when none does. The caller erases the
// returned keys.
func (s *session) openIdentity(secrets [][]byte, from crypt.Role, ctr crypt.Counter, id, mac []byte) (openedIdentity, bool) {
	for _, sec := range secrets {
		k := crypt.NewKey(sec)
		a, b := s.suite.SessionKeys(k, crypt.Initiator), s.suite.SessionKeys(k, crypt.Responder)
		k.Erase()
		keys := a
		if from == crypt.Responder {
			keys = b
		}
		c := ctr
		plain, err := s.suite.DecryptIdentity(keys.Cipher, keys.MAC, &c, id, mac)
		if err == nil {
			return openedIdentity{secret: sec, a: a, b: b, plain: plain, after: c}, true
		}
		a.Erase()
		b.Erase()
	}
	return openedIdentity{}, false
}
