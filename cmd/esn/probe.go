package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/esn-project/esn/pkg/transport"
	"github.com/esn-project/esn/pkg/xmltree"
	"github.com/spf13/cobra"
	"mellium.im/xmpp/jid"
)

// defaultPresenceWait is how long `esn probe` waits for a remote
// contact's presence.
const defaultPresenceWait = 3 * time.Second

// presenceSettle is how long probe keeps listening after the first
// presence of a remote contact, for its other resources.
const presenceSettle = 500 * time.Millisecond

func newProbeCmd(a *app) *cobra.Command {
	var wait time.Duration
	c := &cobra.Command{
		Use:   "probe JID",
		Short: "Ask a contact's clients which ESession features they support",
		Long: `Send an XEP-0030 disco#info query to a full JID (user@domain/resource), or to
every available resource of a bare JID (user@domain), and report the identity
and which ESession-related features each advertises: XEP-0116 (encrypted
sessions), XEP-0155 (stanza session negotiation), XEP-0200 (stanza
encryption; implied by XEP-0116), XEP-0187 (offline sessions), XEP-0136
(message archiving) and XEP-0189 (public keys).

For a bare JID, esn sends presence with priority -1 (so the server neither
hands it offline messages nor routes chats to it) and waits for the contact's
presence, which the server sends only if you are subscribed to it. A bare
JID with no available resource exits 69.`,
		Example: `  esn probe bob@example.org
  esn probe bob@example.org/laptop
  esn probe --json bob@example.org | jq .esession`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			target, err := jid.Parse(args[0])
			if err != nil {
				return usagef("%q is not a JID: %v", args[0], err)
			}
			if wait <= 0 {
				return usagef("--wait must be positive")
			}
			if err := a.load(); err != nil {
				return err
			}
			results, err := a.probe(cmd.Context(), target, wait)
			if err != nil {
				return err
			}
			return a.printProbe(results)
		},
	}
	c.Flags().DurationVar(&wait, "wait", defaultPresenceWait, "how long to wait for a remote contact's presence")
	return c
}

// probeResult is one resource's answer; it is also the --json line.
type probeResult struct {
	JID        string          `json:"jid"`
	Identities []identityJSON  `json:"identities,omitempty"`
	Features   []string        `json:"features,omitempty"`
	ESession   map[string]bool `json:"esession,omitempty"`
	Error      string          `json:"error,omitempty"`

	err error
}

type identityJSON struct {
	Category string `json:"category"`
	Type     string `json:"type"`
	Name     string `json:"name,omitempty"`
}

// probe connects, finds the resources to ask and asks each one.
func (a *app) probe(ctx context.Context, target jid.JID, wait time.Duration) ([]probeResult, error) {
	ctx, cancel := context.WithTimeout(ctx, a.s.Timeout)
	defer cancel()
	bare := target.Bare()
	seen := make(chan struct{}, 1)
	conn, err := a.connect(ctx, func(c *transport.Conn) {
		c.OnPresence(func(p *xmltree.Element) {
			from, err := jid.Parse(p.Attribute("from"))
			if err == nil && from.Bare().Equal(bare) && p.Attribute("type") == "" {
				select {
				case seen <- struct{}{}:
				default:
				}
			}
		})
	})
	if err != nil {
		return nil, err
	}
	defer conn.Close()

	targets := []jid.JID{target}
	if target.Resourcepart() == "" {
		targets, err = a.availableResources(ctx, conn, bare, wait, seen)
		if err != nil {
			return nil, err
		}
	}

	results := make([]probeResult, 0, len(targets))
	failed := 0
	for _, t := range targets {
		a.ui.infof("asking %s for disco#info", t)
		r := probeResult{JID: t.String()}
		info, err := conn.DiscoInfo(ctx, t)
		if err != nil {
			failed++
			r.err = explainDiscoError(err, t)
			r.Error = strings.ReplaceAll(r.err.Error(), "transport: ", "")
		} else {
			fillProbe(&r, info)
		}
		results = append(results, r)
	}
	if failed == len(results) {
		if len(results) == 1 {
			return nil, results[0].err
		}
		return nil, fmt.Errorf("no resource of %s answered: %w", bare, results[0].err)
	}
	return results, nil
}

// availableResources announces us (priority -1) and returns the
// available resources of bare, other than ourselves.
func (a *app) availableResources(ctx context.Context, conn *transport.Conn, bare jid.JID, wait time.Duration, seen <-chan struct{}) ([]jid.JID, error) {
	p := xmltree.New("jabber:client", "presence")
	p.AddChild(xmltree.New("jabber:client", "priority").AddText("-1"))
	if err := conn.Send(ctx, p); err != nil {
		return nil, fmt.Errorf("sending presence: %w", err)
	}
	local := conn.LocalJID()
	if bare.Domainpart() == local.Domainpart() {
		// The server answers presence probes of its own users while it
		// handles our presence, before it answers a later request: once
		// this reply arrives, every presence it will send us is here.
		if _, err := conn.DiscoInfo(ctx, local.Domain()); err != nil {
			var se *transport.StanzaError
			if !errors.As(err, &se) {
				return nil, fmt.Errorf("waiting for presence: %w", err)
			}
		}
	} else {
		a.ui.infof("waiting up to %v for the presence of %s", wait, bare)
		timer := time.NewTimer(wait)
		select {
		case <-seen:
			timer.Reset(presenceSettle)
			select {
			case <-timer.C:
			case <-ctx.Done():
			}
		case <-timer.C:
		case <-ctx.Done():
		}
		timer.Stop()
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("waiting for the presence of %s: %w", bare, err)
		}
	}
	res := slices.DeleteFunc(conn.AvailableResources(bare), func(j jid.JID) bool { return j.Equal(local) })
	if len(res) == 0 {
		return nil, withHint(withCode(exitUnavailable, fmt.Errorf("%s has no available resource: it is offline, or its presence is not shared with %s", bare, local.Bare())),
			"presence is shared only with subscribed contacts; probe a full JID (%s/RESOURCE) if you know one", bare)
	}
	return res, nil
}

// explainDiscoError says what a failed disco#info means for probe.
func explainDiscoError(err error, to jid.JID) error {
	var se *transport.StanzaError
	if errors.As(err, &se) {
		switch se.Condition {
		case "service-unavailable", "recipient-unavailable", "item-not-found":
			return withCode(exitUnavailable, fmt.Errorf("%s is not available or does not answer disco#info (%s)", to, se.Condition))
		}
	}
	return err
}

func fillProbe(r *probeResult, info *transport.DiscoInfo) {
	for _, id := range info.Identities {
		r.Identities = append(r.Identities, identityJSON{Category: id.Category, Type: id.Type, Name: id.Name})
	}
	r.Features = slices.Clone(info.Features)
	slices.Sort(r.Features)
	r.ESession = esessionSupport(info.Features)
}

// esessionSupport says, for each entry of esessionFeatures, whether
// features show support for it.
func esessionSupport(features []string) map[string]bool {
	out := map[string]bool{}
	list := esessionFeatures()
	for _, f := range list {
		out[f.Key] = slices.ContainsFunc(features, func(v string) bool {
			return slices.Contains(f.Vars, v) || f.Prefix != "" && strings.HasPrefix(v, f.Prefix)
		})
	}
	for _, f := range list {
		if f.ImpliedBy != "" && out[f.ImpliedBy] {
			out[f.Key] = true
		}
	}
	return out
}

func (a *app) printProbe(results []probeResult) error {
	if a.flags.json {
		for _, r := range results {
			if err := a.ui.emitJSON(r); err != nil {
				return err
			}
		}
		return nil
	}
	for i, r := range results {
		if i > 0 {
			a.ui.printf("\n")
		}
		if r.err != nil {
			a.ui.printf("%s\n  error: %s\n", r.JID, r.Error)
			continue
		}
		var ids []string
		for _, id := range r.Identities {
			s := id.Category + "/" + id.Type
			if id.Name != "" {
				s += fmt.Sprintf(" %q", id.Name)
			}
			ids = append(ids, s)
		}
		if len(ids) == 0 {
			ids = []string{"(no identity)"}
		}
		a.ui.printf("%s\n  identity: %s\n", r.JID, strings.Join(ids, ", "))
		for _, f := range esessionFeatures() {
			yes := "no"
			if r.ESession[f.Key] {
				yes = "yes"
				if f.ImpliedBy != "" && !slices.ContainsFunc(r.Features, func(v string) bool { return slices.Contains(f.Vars, v) }) {
					yes = "yes (implied)"
				}
			}
			a.ui.printf("  %-9s %-30s %s\n", f.XEP, f.Title, yes)
		}
		if a.flags.verbose {
			for _, v := range r.Features {
				a.ui.printf("  feature: %s\n", v)
			}
		}
	}
	return nil
}
