package crypt

// RekeyEvent reports one XEP-0200 §9 re-key secret to
// [StreamConfig.OnRekey], so that a debugging key log can later decrypt the
// stanzas sent after the re-key (esn's ESN_REKEY_* key log lines).
type RekeyEvent struct {
	// Sent is true for a re-key this side initiates (its own <key/>),
	// false for one it accepts from the peer.
	Sent bool
	// Seq numbers the <key/> elements of that direction from 1: Seq is
	// the number of re-keys this side has initiated (Sent) or accepted so
	// far, this one included. Both parties number a <key/> alike, so the
	// peer reports the same Seq with the opposite Sent.
	Seq uint64
	// Secret is the unhashed re-key secret I2B(K) (K = e'^y = d^x' mod p,
	// [XEP-0200] §9.2), from which [Suite.RekeyKeys] derives the sender's
	// new keys (RekeyInitiator) and the acceptor's (RekeyAcceptor). It is
	// erased when the callback returns: copy it (MarshalPrivate) to keep
	// it.
	Secret Key
}

// rekeyHook numbers the re-keys of a stream and reports them.
//
// An initiated re-key is reported when it is prepared ([Stream.Rekey], or
// Seal when the block budget runs low), before its <key/> is sealed. A
// prepared re-key that is never sent is only dropped by CloseSend, after
// which nothing is sent, so the numbering of sent <key/> elements stays
// exact.
type rekeyHook struct {
	fn         func(RekeyEvent)
	sent, recv uint64
}

func (h *rekeyHook) report(sent bool, z Key) {
	seq := &h.recv
	if sent {
		seq = &h.sent
	}
	*seq++
	if h.fn != nil {
		h.fn(RekeyEvent{Sent: sent, Seq: *seq, Secret: z})
	}
}
