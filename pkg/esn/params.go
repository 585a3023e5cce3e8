package esn

import (
	"fmt"
	"slices"
	"strconv"
)

// Profile selects the negotiation profile.
type Profile int

const (
	// ProfileXEP0217 is the simplified profile of [XEP-0217]: fixed
	// aes128-ctr, sha256, no compression, no public keys, sas28x5, no
	// re-keying (rekey_freq 4294967295); only modp, stanzas and ver are
	// negotiable, and the logging field is named "otr".
	ProfileXEP0217 Profile = iota
	// ProfileXEP0116 is full [XEP-0116] negotiation (4-message, and with a
	// KeyRing and Preferences.Auth also public keys and the 3-message
	// variant, pubkey.go): modp, crypt_algs, hash_algs, stanzas, ver and
	// rekey_freq are negotiable, and the logging field is "logging".
	ProfileXEP0116
	// ProfileGajim reproduces Gajim 0.11.4–1.0.3, the only client that
	// shipped ESessions, with its deviations from the specifications
	// (gajim.go, crypt.GajimSuite): 4-message only, no public keys,
	// fixed algorithms, the responder takes the initiator's first group.
	ProfileGajim
)

func (p Profile) String() string {
	switch p {
	case ProfileXEP0217:
		return "xep0217"
	case ProfileXEP0116:
		return "xep0116"
	case ProfileGajim:
		return "gajim"
	}
	return "Profile(" + strconv.Itoa(int(p)) + ")"
}

// ParseProfile parses "xep0217", "xep0116" or "gajim".
func ParseProfile(s string) (Profile, error) {
	switch s {
	case "xep0217", "0217", "xep-0217":
		return ProfileXEP0217, nil
	case "xep0116", "0116", "xep-0116":
		return ProfileXEP0116, nil
	case "gajim":
		return ProfileGajim, nil
	}
	return 0, fmt.Errorf("esn: unknown profile %q (want xep0217, xep0116 or gajim)", s)
}

// Logging is a value of the logging/otr field, independent of the
// vocabulary (digest D-25).
type Logging int

const (
	// LoggingMustNot: nothing of the session may be stored, not even
	// encrypted (otr=true, logging=mustnot). See [XEP-0200] §11.2.
	LoggingMustNot Logging = iota
	// LoggingMay: messages may be logged (otr=false, logging=may).
	LoggingMay
)

func (l Logging) String() string {
	if l == LoggingMay {
		return "may"
	}
	return "mustnot"
}

// Fixed values of XEP-0217 §4 and mandatory-to-implement values of XEP-0116.
const (
	CipherAES128CTR = "aes128-ctr"
	CipherAES192CTR = "aes192-ctr"
	CipherAES256CTR = "aes256-ctr"
	HashSHA256      = "sha256"
	CompressNone    = "none"
	PubKeyNone      = "none"
	SASAlg          = "sas28x5"
	Version10       = "1.0"
	RekeyNever      = 4294967295
	SecurityE2E     = "e2e"
	DisclosureNever = "never"
)

// Preferences are one side's negotiation choices. As initiator, lists are
// offered in this order (XEP-0116 §4.3: options in order of preference); as
// responder, the first entry of each list that the initiator offered is
// chosen, so the responder's preferences decide (not blindly the
// initiator's first option). The zero value means the defaults of
// [DefaultPreferences] for the profile.
type Preferences struct {
	Profile Profile
	// Groups are the MODP group numbers offered or accepted. A group not
	// listed is never used. Default 14, 15 (digest D-7: group 5 and below
	// only when listed explicitly).
	Groups []int
	// Ciphers and Hashes (XEP-0116 only; XEP-0217 fixes aes128-ctr and
	// sha256).
	Ciphers []string
	Hashes  []string
	// Stanzas are the stanza types to encrypt; default message.
	Stanzas []string
	// Versions default to "1.0" (AMB-12).
	Versions []string
	// RekeyFreq is, as initiator, the rekey_freq offered; as responder, the
	// minimum answered. XEP-0116 default 1000; XEP-0217 4294967295.
	RekeyFreq uint32
	// Logging lists the acceptable logging values in preference order;
	// default mustnot, may.
	Logging []Logging
	// Disclosure is this implementation's own disclosure value, answered as
	// responder. It must be "never" only if esn has no disclosure feature
	// at all (XEP-0116 §14 Back Doors); esn has none.
	Disclosure string
	// AcceptDisclosure lists the disclosure values accepted from the peer
	// (offered as initiator). Default: never. A negotiated value other than
	// never produces a [Warning] event.
	AcceptDisclosure []string
	// MacKeyBits128 takes only the 128 least significant bits of the HMAC
	// output for MAC and SIGMA keys, the literal XEP-0217 text (D-10,
	// AMB-01). Default off: full HMAC output, as XEP-0116 says.
	MacKeyBits128 bool
	// OSS is the optional other shared secret appended to K (D-11). Both
	// sides must configure the same value.
	OSS []byte
	// Auth is the public-key authentication policy (see [Auth]); it
	// needs Config.Keys. The zero value is AuthSAS.
	Auth Auth

	// keys is the responder's key policy for one request (pubkey.go).
	keys *keySelection
	// security overrides the offered security options (tests use it to
	// reproduce the digest's vector V4, which offers e2e and c2s).
	security []string
}

// DefaultPreferences returns the defaults for a profile.
func DefaultPreferences(p Profile) Preferences {
	pr := Preferences{
		Profile:          p,
		Groups:           []int{14, 15},
		Ciphers:          []string{CipherAES128CTR},
		Hashes:           []string{HashSHA256},
		Stanzas:          []string{"message"},
		Versions:         []string{Version10},
		RekeyFreq:        RekeyNever,
		Logging:          []Logging{LoggingMustNot, LoggingMay},
		Disclosure:       DisclosureNever,
		AcceptDisclosure: []string{DisclosureNever},
	}
	if p == ProfileXEP0116 {
		pr.Ciphers = []string{CipherAES256CTR, CipherAES128CTR}
		pr.RekeyFreq = 1000
	}
	if p == ProfileGajim {
		pr.Groups = slices.Clone(gajimGroups[:]) // gajim.go
	}
	return pr
}

// withDefaults fills empty fields from DefaultPreferences and forces the
// XEP-0217 fixed parameters.
func (p Preferences) withDefaults() Preferences {
	d := DefaultPreferences(p.Profile)
	if len(p.Groups) == 0 {
		p.Groups = d.Groups
	}
	if len(p.Ciphers) == 0 {
		p.Ciphers = d.Ciphers
	}
	if len(p.Hashes) == 0 {
		p.Hashes = d.Hashes
	}
	if len(p.Stanzas) == 0 {
		p.Stanzas = d.Stanzas
	}
	if len(p.Versions) == 0 {
		p.Versions = d.Versions
	}
	if p.RekeyFreq == 0 {
		p.RekeyFreq = d.RekeyFreq
	}
	if len(p.Logging) == 0 {
		p.Logging = d.Logging
	}
	if p.Disclosure == "" {
		p.Disclosure = d.Disclosure
	}
	if len(p.AcceptDisclosure) == 0 {
		p.AcceptDisclosure = d.AcceptDisclosure
	}
	if p.Profile == ProfileXEP0217 || p.Profile == ProfileGajim {
		p.Ciphers = []string{CipherAES128CTR}
		p.Hashes = []string{HashSHA256}
		p.RekeyFreq = RekeyNever
	}
	return p
}

// Params are the parameters of a negotiated session (the responder's
// choices, XEP-0116 §4.4).
type Params struct {
	Profile    Profile
	Group      int
	Cipher     string
	Hash       string
	Compress   string
	Stanzas    []string
	Version    string
	RekeyFreq  uint32
	SAS        string
	InitPubKey string
	RespPubKey string
	// SignAlg is the chosen sign_algs value, "" when neither side
	// identifies with a public key.
	SignAlg    string
	Logging    Logging
	Disclosure string
	Security   string
	// LoggingField is the field name used in this negotiation ("otr" or
	// "logging"), kept so the answer reuses the request's vocabulary.
	LoggingField string
	// MacKeyBits128 mirrors the local Preferences (D-10).
	MacKeyBits128 bool
}

// AllowsStanza reports whether the stanza type (message, presence, iq) is
// among the agreed ones.
func (p Params) AllowsStanza(name string) bool { return slices.Contains(p.Stanzas, name) }

// loggingVocab maps a logging/otr field value to Logging per D-25.
func loggingValue(field, v string) (Logging, bool) {
	switch field {
	case "otr":
		if b, ok := ParseBool(v); ok {
			if b {
				return LoggingMustNot, true
			}
			return LoggingMay, true
		}
	case "logging":
		switch v {
		case "mustnot", "false", "0":
			return LoggingMustNot, true
		case "may", "true", "1":
			return LoggingMay, true
		}
	}
	return 0, false
}

// loggingWire returns the wire value for l in the vocabulary of field.
// For "logging", vocab says whether the request used may/mustnot ("ssn")
// or the XEP-0116 true/false.
func loggingWire(field string, l Logging, boolVocab bool) string {
	if field == "otr" {
		if l == LoggingMustNot {
			return "true"
		}
		return "false"
	}
	if boolVocab {
		if l == LoggingMustNot {
			return "false"
		}
		return "true"
	}
	return l.String()
}
