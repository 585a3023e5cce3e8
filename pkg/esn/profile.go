package esn

import "strconv"

// xep0217Fixed are the Fixed Parameters of [XEP-0217] §4 (digest §5.11):
// the only value each field may offer and hold under the simplified
// profile.
var xep0217Fixed = [...]struct{ field, value string }{
	{"crypt_algs", CipherAES128CTR},
	{"hash_algs", HashSHA256},
	{"compress", CompressNone},
	{"init_pubkey", PubKeyNone},
	{"resp_pubkey", PubKeyNone},
	{"sas_algs", SASAlg},
	{"rekey_freq", strconv.FormatUint(RekeyNever, 10)},
}

// negotiatedProfile says which profile a negotiation actually followed,
// the same on both sides whatever each side's own preferences: XEP-0217
// when the request offered nothing but the Fixed Parameters (each field a
// single choice, as a hidden value or one option; no dhkeys, no sign_algs)
// and the answer kept them; XEP-0116 otherwise. The name of the logging
// field (otr or logging) does not matter: it is vocabulary, not a
// parameter (D-25).
func negotiatedProfile(req *Form, par Params) Profile {
	if req == nil || req.Field("dhkeys") != nil || req.Field("sign_algs") != nil {
		return ProfileXEP0116
	}
	for _, fx := range xep0217Fixed {
		c := choices(req.Field(fx.field))
		if len(c) != 1 || c[0] != fx.value {
			return ProfileXEP0116
		}
	}
	if par.Cipher != CipherAES128CTR || par.Hash != HashSHA256 || par.Compress != CompressNone ||
		par.InitPubKey != PubKeyNone || par.RespPubKey != PubKeyNone || par.SAS != SASAlg ||
		par.RekeyFreq != RekeyNever || par.SignAlg != "" {
		return ProfileXEP0116
	}
	return ProfileXEP0217
}
