package esn

import "testing"

func TestKeyLogRekeyLabels(t *testing.T) {
	for _, tc := range []struct {
		label string
		init  bool
		seq   uint64
		ok    bool
	}{
		{"ESN_REKEY_I_1", true, 1, true},
		{"ESN_REKEY_R_12", false, 12, true},
		{"ESN_REKEY_I_0", false, 0, false},
		{"ESN_REKEY_I_01", false, 0, false},
		{"ESN_REKEY_I_", false, 0, false},
		{"ESN_REKEY_X_1", false, 0, false},
		{"ESN_KFINAL", false, 0, false},
	} {
		init, seq, ok := ParseKeyLogRekeyLabel(tc.label)
		if ok != tc.ok || init != tc.init || seq != tc.seq {
			t.Errorf("%s: %v %d %v", tc.label, init, seq, ok)
		}
		if ok && KeyLogRekeyLabel(init, seq) != tc.label {
			t.Errorf("%s does not round-trip", tc.label)
		}
	}
}
