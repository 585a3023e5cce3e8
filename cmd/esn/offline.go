package main

// esn offline: XEP-0187 offline encrypted sessions, Alice's side (publish
// and withdraw the signed options, show the stored sets). Bob's side is
// esn send --offline (offline_send.go); Alice reads the stored messages
// with esn receive (offline_receive.go). See docs/offline.md.

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/esn-project/esn/pkg/crypt"
	"github.com/esn-project/esn/pkg/esn"
	"github.com/esn-project/esn/pkg/offline"
	"github.com/esn-project/esn/pkg/pubkey"
	"github.com/esn-project/esn/pkg/transport"
	"github.com/spf13/cobra"
)

func newOfflineCmd(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "offline",
		Short: "Let contacts start encrypted sessions while you are offline (XEP-0187)",
		Long: `Offline encrypted sessions (XEP-0187) let a contact send you encrypted
messages while no client of yours is online: before going offline you publish
signed session options (with fresh Diffie-Hellman values) on your account's PEP
nodes; a contact verifies your signature with your public key, completes the key
exchange alone and sends the encrypted messages, which your server stores
(XEP-0160); when you come back, esn receive decrypts them with the private values
esn kept for you.

  esn offline publish     before going offline (needs your key: esn keys generate)
  esn send --offline JID  what your contact runs
  esn receive             back online: withdraws the subscribers' options,
                          decrypts the stored messages and prints them

Two option sets exist: "subscribers" (node xep-0187.html#ns, readable by
contacts with a presence subscription, fresh at every publication, withdrawn at
login) and "all" (node xep-0116.html#ns, readable by anyone, long-lived; updating
it tells watchers you went offline). See docs/offline.md.`,
	}
	c.AddCommand(newOfflinePublishCmd(a), newOfflineWithdrawCmd(a), newOfflineStatusCmd(a))
	return c
}

// parseSets parses --set: subscribers, all or both.
func parseSets(v string) ([]offline.Set, error) {
	if v == "both" {
		return []offline.Set{offline.SetSubscribers, offline.SetAll}, nil
	}
	s, err := offline.ParseSet(v)
	if err != nil {
		return nil, usagef("--set must be subscribers, all or both, not %q", v)
	}
	return []offline.Set{s}, nil
}

// parseExpires reads --expires: a duration from now or a XEP-0082
// DateTime.
func parseExpires(v string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(v); err == nil {
		if d <= 0 {
			return time.Time{}, usagef("--expires must be in the future")
		}
		return now.Add(d), nil
	}
	t, err := pubkey.ParseTime(v)
	if err != nil {
		return time.Time{}, usagef("--expires %q is neither a duration (48h) nor a date (2026-07-02T08:00:00Z)", v)
	}
	if !t.After(now) {
		return time.Time{}, usagef("--expires %s is not in the future", v)
	}
	return t, nil
}

// parseGroups reads a --modp list.
func parseGroups(v string) ([]int, error) {
	var out []int
	for _, s := range strings.Split(v, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		g, err := strconv.Atoi(s)
		if err != nil || !slices.Contains(crypt.GroupIDs(), g) {
			return nil, usagef("--modp: %q is not a MODP group number (14, 15, 16, 17, 18)", s)
		}
		if !slices.Contains(out, g) {
			out = append(out, g)
		}
	}
	if len(out) == 0 {
		return nil, usagef("--modp: no group given")
	}
	return out, nil
}

// offlineStore returns the XEP-0187 secret store of the account.
func (a *app) offlineStore(account string) *offline.Store {
	return offline.NewStore(a.openStore, account)
}

// offlineSigner returns the account's current key for signing the options.
func (a *app) offlineSigner(account string) (crypto.Signer, *pubkey.LocalKey, error) {
	ks, err := a.openKeystore()
	if err != nil {
		return nil, nil, err
	}
	own, err := ks.Current(account)
	if errors.Is(err, pubkey.ErrNoKey) {
		return nil, nil, withHint(fmt.Errorf("%w for %s", esn.ErrNoIdentity, account),
			"offline sessions are authenticated by public keys: esn keys generate && esn keys publish")
	}
	if err != nil {
		return nil, nil, ksErr(err)
	}
	priv, err := a.unlockKey(own)
	if err != nil {
		return nil, nil, err
	}
	return priv, own, nil
}

// optionsNodeConfig is the node configuration of an options node
// (XEP-0187 §3.1; digest O-12, O-13, #49).
func optionsNodeConfig(s offline.Set) transport.NodeConfig {
	return transport.NodeConfig{AccessModel: s.AccessModel(), Fields: offline.NodeConfig()}
}

func newOfflinePublishCmd(a *app) *cobra.Command {
	var (
		setFlag, expiresFlag, modpFlag, matchResource string
	)
	c := &cobra.Command{
		Use:   "publish",
		Short: "Publish signed offline session options before going offline",
		Long: `Prepare fresh offline session options (XEP-0187 §3.1): a new ESession ID and
one Diffie-Hellman key pair per MODP group, signed with your current key. The
private values are stored in the state file first (mode 600), then the options
are published on your PEP node, configured never to push them (no
notifications, never the last item) and to keep one persistent item.

--set subscribers (the default) publishes for contacts with a presence
subscription: fresh values each time, withdrawn by esn receive when you come
back. --set all publishes for everybody (contacts without a subscription
included); that set lives until it expires or you publish again, and every
update tells watchers that you went offline. --set both does both.

--expires bounds how long contacts may use the options; choose a time soon
after you expect to be back (XEP-0187 §6.2). Messages processed after it are
discarded undecrypted. --match-resource NAME asks senders to address only
that resource (use it when only this machine holds the secrets, and read the
messages with esn receive --resource NAME).`,
		Example: `  esn offline publish
  esn offline publish --set both --expires 72h
  esn offline publish --expires 2026-07-02T08:00:00Z --match-resource laptop`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			sets, err := parseSets(setFlag)
			if err != nil {
				return err
			}
			groups, err := parseGroups(modpFlag)
			if err != nil {
				return err
			}
			expires, err := parseExpires(expiresFlag, time.Now())
			if err != nil {
				return err
			}
			if strings.ContainsAny(matchResource, "/@") {
				return usagef("--match-resource takes a resource name, not a JID")
			}
			if err := a.load(); err != nil {
				return err
			}
			return offlineError(a.offlinePublish(cmd.Context(), sets, groups, expires, matchResource))
		},
	}
	c.Flags().StringVar(&setFlag, "set", "subscribers", "option `SET` to publish: subscribers, all or both")
	c.Flags().StringVar(&expiresFlag, "expires", "48h", "options expire after `DURATION` or at a DATE (UTC)")
	c.Flags().StringVar(&modpFlag, "modp", "14,15", "MODP `GROUPS` to offer, in order of preference")
	c.Flags().StringVar(&matchResource, "match-resource", "", "ask senders to address only `RESOURCE` (and AMP match-resource)")
	return c
}

// publishedJSON describes one published set.
func publishedJSON(s *offline.Secrets) map[string]any {
	return map[string]any{"event": "published", "set": s.Set.String(), "node": s.Set.Node(), "access": s.Set.AccessModel(),
		"id": s.ID, "created": pubkey.FormatTime(s.Created), "expires": pubkey.FormatTime(s.Expires),
		"groups": s.Groups(), "match_resource": s.MatchResource, "time": now()}
}

func (a *app) offlinePublish(ctx context.Context, sets []offline.Set, groups []int, expires time.Time, matchResource string) error {
	acct, err := a.s.accountJID()
	if err != nil {
		return err
	}
	account := acct.Bare().String()
	signer, own, err := a.offlineSigner(account)
	if err != nil {
		return err
	}
	if !own.Published {
		a.ui.warnf("your key %s is not published; contacts need it to verify the options (run: esn keys publish)", own.Public.Fingerprint())
	}
	st := a.offlineStore(account)
	if gone, err := st.DeleteExpired(time.Now()); err != nil {
		return err
	} else if len(gone) > 0 {
		a.ui.infof("deleted %d expired option set(s)", len(gone))
	}
	var pubs []*offline.Published
	defer func() {
		for _, p := range pubs {
			p.Secrets.Erase()
		}
	}()
	for _, s := range sets {
		p, err := offline.Prepare(offline.PublishConfig{Set: s, Owner: account, MatchResource: matchResource,
			Expires: expires, Groups: groups, Signers: []crypto.Signer{signer}})
		if err != nil {
			return err
		}
		pubs = append(pubs, p)
	}
	// XEP-0187 §3.1: the private values are stored before anything is
	// published, in one transaction.
	secrets := make([]*offline.Secrets, len(pubs))
	for i, p := range pubs {
		secrets[i] = p.Secrets
	}
	if err := st.Save(secrets...); err != nil {
		return err
	}
	conn, cctx, cancel, err := a.connectPEP(ctx)
	if err != nil {
		_ = st.Delete(ids(secrets)...)
		return err
	}
	defer cancel()
	defer conn.Close()
	for i, p := range pubs {
		s := p.Secrets.Set
		if err := conn.PEPPublish(cctx, s.Node(), offline.ItemID, p.Form, optionsNodeConfig(s)); err != nil {
			// The sets not published are useless: drop their secrets.
			_ = st.Delete(ids(secrets[i:])...)
			return withHint(err, "the server refused the options node %s", s.Node())
		}
		a.ui.noticef("published offline options for %s (node %s, access %s); they expire %s",
			setAudience(s), s.Node(), s.AccessModel(), pubkey.FormatTime(p.Secrets.Expires))
		if a.flags.json {
			_ = a.ui.emitJSON(publishedJSON(p.Secrets))
		}
	}
	if matchResource != "" {
		a.ui.noticef("senders will address %s/%s only: read with esn receive --resource %s", account, matchResource, matchResource)
	}
	return nil
}

func setAudience(s offline.Set) string {
	if s == offline.SetAll {
		return "everybody"
	}
	return "presence subscribers"
}

func ids(ss []*offline.Secrets) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.ID
	}
	return out
}

func newOfflineWithdrawCmd(a *app) *cobra.Command {
	var setFlag string
	c := &cobra.Command{
		Use:   "withdraw",
		Short: "Withdraw published offline session options and destroy their secrets",
		Long: `Retract the options item of the chosen set from your PEP node and destroy the
private values esn kept for it. Messages sent with these options that you have
not received yet can then never be decrypted: read them first with esn receive,
which withdraws the subscribers' set by itself when you come back.`,
		Example: `  esn offline withdraw
  esn offline withdraw --set both`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			sets, err := parseSets(setFlag)
			if err != nil {
				return err
			}
			if err := a.load(); err != nil {
				return err
			}
			return offlineError(a.offlineWithdraw(cmd.Context(), sets))
		},
	}
	c.Flags().StringVar(&setFlag, "set", "subscribers", "option `SET` to withdraw: subscribers, all or both")
	return c
}

// retractOptions retracts the options item of set; a missing node or item
// is not an error.
func retractOptions(ctx context.Context, conn *transport.Conn, s offline.Set) error {
	err := conn.PEPRetract(ctx, s.Node(), offline.ItemID)
	if errors.Is(err, &transport.StanzaError{Condition: "item-not-found"}) {
		return nil
	}
	return err
}

func (a *app) offlineWithdraw(ctx context.Context, sets []offline.Set) error {
	acct, err := a.s.accountJID()
	if err != nil {
		return err
	}
	account := acct.Bare().String()
	conn, cctx, cancel, err := a.connectPEP(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	defer conn.Close()
	st := a.offlineStore(account)
	for _, s := range sets {
		if err := retractOptions(cctx, conn, s); err != nil {
			return err
		}
		taken, err := st.Take(s)
		if err != nil {
			return err
		}
		for _, t := range taken {
			t.Erase()
		}
		a.ui.noticef("withdrew the offline options for %s; destroyed %d stored set(s)", setAudience(s), len(taken))
		if a.flags.json {
			_ = a.ui.emitJSON(map[string]any{"event": "withdrawn", "set": s.String(), "node": s.Node(), "destroyed": len(taken), "time": now()})
		}
	}
	return nil
}

func newOfflineStatusCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "List the offline option sets whose secrets esn keeps",
		Long: `List the option sets published with esn offline publish whose private values
are still stored (never the values themselves): set, id, creation and expiry,
MODP groups and match_resource. Expired sets are deleted.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := a.load(); err != nil {
				return err
			}
			acct, err := a.s.accountJID()
			if err != nil {
				return err
			}
			st := a.offlineStore(acct.Bare().String())
			if _, err := st.DeleteExpired(time.Now()); err != nil {
				return err
			}
			sets, err := st.List()
			if err != nil {
				return err
			}
			if len(sets) == 0 && !a.flags.json {
				a.ui.noticef("no offline options are stored (esn offline publish creates them)")
			}
			for _, s := range sets {
				j := publishedJSON(s)
				s.Erase()
				if a.flags.json {
					j["event"] = "stored"
					delete(j, "time")
					_ = a.ui.emitJSON(j)
					continue
				}
				mr := ""
				if s.MatchResource != "" {
					mr = " match_resource " + s.MatchResource
				}
				a.ui.printf("%-11s %s created %s expires %s groups %v%s\n", s.Set, s.ID,
					pubkey.FormatTime(s.Created), pubkey.FormatTime(s.Expires), j["groups"], mr)
			}
			return nil
		},
	}
}

// offlineError gives the errors of pkg/offline their exit codes
// (docs/exit-codes.md): bad data 65, unavailable 69. Untrusted keys wrap
// esn.ErrUntrustedKey and keep 77.
func offlineError(err error) error {
	var de *offline.DeliveryError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, esn.ErrUntrustedKey):
		return keyErrorHint(err)
	case errors.Is(err, offline.ErrNoIdentity):
		return withCode(exitUsage, withHint(err, "make a key with: esn keys generate && esn keys publish"))
	case errors.Is(err, offline.ErrBadSignature), errors.Is(err, offline.ErrMalformed), errors.Is(err, offline.ErrAuthentication):
		return withCode(exitDataErr, err)
	case errors.Is(err, offline.ErrNoOptions), errors.Is(err, offline.ErrExpired), errors.Is(err, offline.ErrUnsupported),
		errors.Is(err, offline.ErrEnded), errors.As(err, &de):
		return withCode(exitUnavailable, err)
	}
	return err
}
