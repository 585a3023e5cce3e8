package main

// esn receive --archive: archive the decrypted messages of sessions whose
// logging mode allows it, encrypted to the account's own keys, when
// esn receive ends. receive.go calls newReceiveArchiver, add and flush.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/esn-project/esn/pkg/archive"
	"github.com/esn-project/esn/pkg/esn"
	"github.com/esn-project/esn/pkg/transport"
	"github.com/spf13/cobra"
)

// receiveArchiver collects what esn receive --archive keeps. add runs on
// the runner's goroutines; it is safe for concurrent use.
type receiveArchiver struct {
	a      *app
	sealer *archive.Sealer // nil: plaintext

	mu      sync.Mutex
	col     archive.Collector
	refused map[string]bool // threads left out because they are off the record
}

// newReceiveArchiver prepares the keys before esn receive connects, so a
// missing key fails the run before any message is accepted. logging is
// what the sessions will accept (--logging).
func (a *app) newReceiveArchiver(plaintext bool, logging []esn.Logging) (*receiveArchiver, error) {
	switch {
	case !slices.Contains(logging, esn.LoggingMay):
		return nil, withHint(usagef("--archive with --logging mustnot: every session is off the record, so nothing could be archived"),
			"--logging may,mustnot prefers sessions that may be archived")
	case logging[0] != esn.LoggingMay:
		a.ui.warnf("--archive: sessions are off the record whenever the peer accepts it (--logging %s); --logging may,mustnot prefers archivable ones", loggingList(logging))
	}
	r := &receiveArchiver{a: a, refused: map[string]bool{}}
	if plaintext {
		return r, nil
	}
	account, err := a.accountBare()
	if err != nil {
		return nil, err
	}
	ks, err := a.openKeystore()
	if err != nil {
		return nil, err
	}
	rs, _, err := ownRecipients(ks, account)
	if err != nil {
		return nil, err
	}
	if len(rs) == 0 {
		return nil, withHint(usagef("--archive: %s has no valid key to encrypt the archive to", account),
			"esn keys generate makes one; --archive-plaintext archives without encryption")
	}
	if r.sealer, err = archive.NewSealer(nil, rs); err != nil {
		return nil, err
	}
	return r, nil
}

// add keeps one decrypted message if its session's logging mode allows
// it (XEP-0136 §3.2: never an off-the-record one).
func (r *receiveArchiver) add(m esn.MessageEvent, logging esn.Logging) {
	if m.Body == "" {
		return
	}
	l, err := archive.ParseLogging(logging.String())
	if err != nil {
		l = archive.LoggingUnknown
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	err = r.col.Add(archive.Message{Peer: m.Peer, Thread: m.Thread, Body: m.Body, Time: time.Now(), Logging: l})
	switch {
	case err == nil:
	case errors.Is(err, archive.ErrLoggingForbidden) || errors.Is(err, archive.ErrLoggingUnknown):
		if !r.refused[m.Thread] {
			r.refused[m.Thread] = true
			r.a.ui.infof("not archiving session %s with %s: it is off the record", shortThread(m.Thread), m.Peer)
		}
	default:
		r.a.ui.warnf("not archiving a message from %s: %v", m.Peer, err)
	}
}

// flush uploads what was collected, over conn, and reports each
// collection like esn archive save.
func (r *receiveArchiver) flush(ctx context.Context, conn *transport.Conn) error {
	if r.sealer != nil {
		defer r.sealer.Close()
	}
	r.mu.Lock()
	cols := r.col.Collections()
	r.mu.Unlock()
	c := archive.NewClient(conn)
	var errs []error
	for _, col := range cols {
		if prev, err := c.FindThread(ctx, col.With, col.Thread, archiveFindLimit); err == nil && prev != nil &&
			prev.IsEncrypted() == (r.sealer != nil) {
			col.Start = prev.Start
		}
		got, err := c.Upload(ctx, col, archive.UploadOptions{Sealer: r.sealer, ChunkEntries: 50})
		if err != nil {
			errs = append(errs, fmt.Errorf("archiving %s: %w", col.ID(), err))
			continue
		}
		r.a.ui.noticef("archived %d message(s) with %s (collection %s)", len(col.Entries), col.With, archive.FormatTime(got.Start))
		if r.a.flags.json {
			j := newCollectionJSON(got)
			j.Encrypted, j.Messages = r.sealer != nil, ptr(len(col.Entries))
			_ = r.a.ui.emitJSON(map[string]any{"event": "archived", "with": j.With, "start": j.Start, "thread": j.Thread,
				"version": got.Version, "encrypted": j.Encrypted, "messages": *j.Messages, "time": now()})
		}
	}
	return archiveErr(errors.Join(errs...))
}

// registerLoggingFlag adds --logging to the session commands: which
// values of the negotiated logging field (XEP-0155, XEP-0136 §3.1) are
// acceptable, in order of preference.
func registerLoggingFlag(c *cobra.Command, v *string) {
	c.Flags().StringVar(v, "logging", "mustnot,may", "acceptable `VALUES` of logging, in order of preference: mustnot (off the record), may (the messages may be archived, e.g. with --archive)")
}

// parseLoggingFlag reads --logging: mustnot and/or may, comma-separated.
func parseLoggingFlag(s string) ([]esn.Logging, error) {
	if s == "" {
		return []esn.Logging{esn.LoggingMustNot, esn.LoggingMay}, nil
	}
	var out []esn.Logging
	for _, v := range strings.Split(s, ",") {
		var l esn.Logging
		switch strings.TrimSpace(v) {
		case "mustnot", "otr":
			l = esn.LoggingMustNot
		case "may":
			l = esn.LoggingMay
		default:
			return nil, usagef("--logging: %q is not mustnot or may", v)
		}
		if slices.Contains(out, l) {
			return nil, usagef("--logging: %s given twice", l)
		}
		out = append(out, l)
	}
	return out, nil
}

func loggingList(ls []esn.Logging) string {
	var s []string
	for _, l := range ls {
		s = append(s, l.String())
	}
	return strings.Join(s, ",")
}
