package esn

import (
	"strconv"
	"strings"

	"github.com/esn-project/esn/pkg/crypt"
)

// Key log labels of XEP-0200 §9 re-keys. A re-key secret is logged as
// KeyLogRekeyInitiator or KeyLogRekeyResponder followed by "_" and the
// 1-based number of the <key/> in its direction, as TLS 1.3 key logs number
// CLIENT_TRAFFIC_SECRET_N: "ESN_REKEY_I_1" is the secret of the first
// <key/> the session initiator sent, "ESN_REKEY_R_2" of the second one the
// responder sent. See [KeyLogRekeyLabel].
//
// The secret is the unhashed re-key secret I2B(K), K = e'^y = d^x' mod p:
// crypt.Suite.RekeyKeys derives from it the keys the sender of the <key/>
// uses after that stanza (initiator keys) and the keys its peer uses once
// it has accepted the re-key (acceptor keys).
const (
	KeyLogRekeyInitiator = "ESN_REKEY_I"
	KeyLogRekeyResponder = "ESN_REKEY_R"
)

// KeyLogRekeyLabel returns the key log label of the seq-th re-key (from 1)
// sent by the session initiator (byInitiator) or by the responder.
func KeyLogRekeyLabel(byInitiator bool, seq uint64) string {
	p := KeyLogRekeyResponder
	if byInitiator {
		p = KeyLogRekeyInitiator
	}
	return p + "_" + strconv.FormatUint(seq, 10)
}

// ParseKeyLogRekeyLabel is the inverse of [KeyLogRekeyLabel]; ok is false
// for any other label.
func ParseKeyLogRekeyLabel(label string) (byInitiator bool, seq uint64, ok bool) {
	var rest string
	switch {
	case strings.HasPrefix(label, KeyLogRekeyInitiator+"_"):
		byInitiator, rest = true, label[len(KeyLogRekeyInitiator)+1:]
	case strings.HasPrefix(label, KeyLogRekeyResponder+"_"):
		rest = label[len(KeyLogRekeyResponder)+1:]
	default:
		return false, 0, false
	}
	if rest == "" || rest[0] == '0' || rest[0] == '+' {
		return false, 0, false
	}
	seq, err := strconv.ParseUint(rest, 10, 64)
	if err != nil {
		return false, 0, false
	}
	return byInitiator, seq, true
}

// rekeyHook returns the crypt.Stream hook that logs re-key secrets, or nil
// when no key log is configured.
func (s *Session) rekeyHook() func(crypt.RekeyEvent) {
	if s.cfg.cfg.KeyLog == nil {
		return nil
	}
	return func(e crypt.RekeyEvent) {
		// The <key/> came from the initiator if we are the initiator and
		// sent it, or the responder and received it.
		byInitiator := e.Sent == (s.role == crypt.Initiator)
		b := e.Secret.MarshalPrivate()
		s.keylog(KeyLogRekeyLabel(byInitiator, e.Seq), b)
		clear(b)
	}
}
