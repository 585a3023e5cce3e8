package crypt

import (
	"crypto/cipher"
	"crypto/hmac"
	"math/big"
)

// MacA computes Alice's identity proof (XEP-0116 §Hiding Alice's Identity,
// both variants):
//
//	mac_A = HMAC(HASH, KS_A, N_B | N_A | I2B(e) | pubKey_A | form_A | form_A2)
//
// Note N_B comes first. pubKeyA is NORM_EL(<KeyValue>) or empty for the
// 'none' method; formA and formA2 are normalized form contents (without the
// 'identity' and 'mac' fields of form_A2).
func (s *Suite) MacA(ksA Key, nA, nB []byte, e *big.Int, pubKeyA, formA, formA2 []byte) []byte {
	return s.sigmaMAC(ksA, nB, nA, I2B(e), pubKeyA, formA, formA2)
}

// MacB computes Bob's identity proof (XEP-0116 §Sending Bob's Identity):
//
//	mac_B = HMAC(HASH, KS_B, N_A | N_B | I2B(d) | pubKey_B | form_B [| form_B2])
//
// formB2 is nil in the 3-message negotiation and Bob's message-4 form
// content in the 4-message one.
func (s *Suite) MacB(ksB Key, nA, nB []byte, d *big.Int, pubKeyB, formB, formB2 []byte) []byte {
	return s.sigmaMAC(ksB, nA, nB, I2B(d), pubKeyB, formB, formB2)
}

func (s *Suite) sigmaMAC(ks Key, parts ...[]byte) []byte {
	m := hmac.New(s.Hash.new, ks.b)
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

// EncryptIdentity encrypts an identity plaintext into ID_X and computes its
// MAC (XEP-0116 §Hiding Alice's Identity):
//
//	ID_X = CIPHER(KC_X, C_X, plaintext)
//	M_X  = HMAC(HASH, KM_X, I2B(C_X before) | ID_X)
//
// Note the counter comes first here, unlike the XEP-0200 MAC. ctr is
// advanced by the blocks used, and continues into the stanza traffic
// (esession-core.md D-14). With the "none" cipher the plaintext is sent as
// is and the counter advances by one.
func (s *Suite) EncryptIdentity(kc, km Key, ctr *Counter, plaintext []byte) (id, mac []byte, err error) {
	block, err := s.newBlock(kc)
	if err != nil {
		return nil, nil, err
	}
	before := *ctr
	id = make([]byte, len(plaintext))
	if block == nil {
		copy(id, plaintext)
		*ctr = ctr.Add(1)
	} else {
		s.xorCTR(block, before, id, plaintext)
		*ctr = ctr.Add(Blocks(len(plaintext)))
	}
	return id, s.identityMAC(km, before, id), nil
}

// DecryptIdentity checks M_X in constant time and only then decrypts ID_X,
// advancing ctr (XEP-0116 §Verifying Alice's Identity steps 1–2). Any
// failure returns [ErrMAC] and leaves ctr unchanged.
func (s *Suite) DecryptIdentity(kc, km Key, ctr *Counter, id, mac []byte) ([]byte, error) {
	block, err := s.newBlock(kc)
	if err != nil {
		return nil, err
	}
	if !hmac.Equal(mac, s.identityMAC(km, *ctr, id)) {
		return nil, ErrMAC
	}
	out := make([]byte, len(id))
	if block == nil {
		copy(out, id)
		*ctr = ctr.Add(1)
	} else {
		s.xorCTR(block, *ctr, out, id)
		*ctr = ctr.Add(Blocks(len(id)))
	}
	return out, nil
}

func (s *Suite) identityMAC(km Key, c Counter, id []byte) []byte {
	m := hmac.New(s.Hash.new, km.b)
	m.Write(c.AppendI2B(make([]byte, 0, 16)))
	m.Write(id)
	return m.Sum(nil)
}

// xorCTR runs CTR mode from counter block c + CTRStart. cipher.NewCTR
// increments the whole 16-byte block big-endian with wrap-around, which is
// (C + j) mod 2^128 (esession-core.md §6.5, vector V7).
func (s *Suite) xorCTR(block cipher.Block, c Counter, dst, src []byte) {
	var iv [16]byte
	s.xorCTRBuf(block, c, dst, src, &iv)
}

// xorCTRBuf is xorCTR with a caller-owned IV buffer, which saves an
// allocation on the stanza path.
func (s *Suite) xorCTRBuf(block cipher.Block, c Counter, dst, src []byte, iv *[16]byte) {
	*iv = c.Add(s.CTRStart).Fixed()
	cipher.NewCTR(block, iv[:]).XORKeyStream(dst, src)
}
