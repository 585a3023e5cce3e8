package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/esn-project/esn/pkg/archive"
	"github.com/spf13/cobra"
)

func newArchivePrefsCmd(a *app) *cobra.Command {
	var (
		sets      []string
		forJID    string
		forThread string
		exact     bool
		remove    bool
	)
	c := &cobra.Command{
		Use:   "prefs",
		Short: "Show or set the archiving preferences your server keeps (XEP-0136 §2)",
		Long: `Without --set, print the preferences: automatic archiving of this stream,
the default modes, the modes per contact and per session, and the archiving
methods. With --set KEY=VALUE (repeatable), change them:

  save=body|false|message|stream   what the server archives (default; --jid: that
                                   contact; --thread: that session)
  otr=approve|concede|forbid|oppose|prefer|require
                                   the OTR mode (require needs save=false)
  expire=DURATION                  delete archived messages after DURATION (e.g. 720h)
  method.auto|method.local|method.manual=prefer|concede|forbid
  auto=true|false                  automatic archiving of this stream
  auto-scope=global                with auto: also for later streams

--jid JID applies save/otr/expire to one contact (a bare JID is strongly
recommended; --exact matches that string only), --thread THREAD applies save
to one session. --remove with --jid or --thread drops that rule.

esn's own encrypted archiving is manual ('esn archive save'); automatic
archiving by the server stores what crosses it, which for encrypted sessions
is ciphertext whose keys are gone (XEP-0136 §6: keep it off).`,
		Example: `  esn archive prefs
  esn archive prefs --set save=false --set otr=prefer
  esn archive prefs --jid alice@example.org --set otr=require --set save=false
  esn archive prefs --set method.manual=prefer --set method.auto=forbid
  esn archive prefs --jid alice@example.org --remove`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			plan, err := parsePrefSets(sets, forJID, forThread, exact, remove)
			if err != nil {
				return err
			}
			for _, w := range plan.warnings {
				a.ui.warnf("%s", w)
			}
			if err := a.load(); err != nil {
				return err
			}
			s, err := a.connectArchive(cmd.Context())
			if err != nil {
				return err
			}
			defer s.close()
			if err := plan.apply(s); err != nil {
				return archiveErr(err)
			}
			p, err := s.c.Prefs(s.ctx)
			if err != nil {
				return archiveErr(err)
			}
			return a.printPrefs(p)
		},
	}
	c.Flags().StringArrayVar(&sets, "set", nil, "change a preference: `KEY=VALUE` (repeatable; see above)")
	c.Flags().StringVar(&forJID, "jid", "", "apply to the contact `JID` (save, otr, expire)")
	c.Flags().StringVar(&forThread, "thread", "", "apply to the chat session `THREAD` (save)")
	c.Flags().BoolVar(&exact, "exact", false, "with --jid: match that exact JID string only")
	c.Flags().BoolVar(&remove, "remove", false, "with --jid or --thread: remove that contact's or session's preferences")
	return c
}

// prefPlan is what `esn archive prefs` will change.
type prefPlan struct {
	jid, thread string
	exact       bool
	remove      bool
	save        archive.SaveMode
	otr         archive.OTRMode
	expire      time.Duration
	methods     []archive.MethodPref
	auto        *archive.Auto
	warnings    []string
}

func parsePrefSets(sets []string, forJID, forThread string, exact, remove bool) (*prefPlan, error) {
	p := &prefPlan{thread: forThread, exact: exact, remove: remove}
	if forJID != "" {
		j, err := parseArchiveJID("--jid", forJID)
		if err != nil {
			return nil, err
		}
		p.jid = j
		if strings.Contains(j, "/") {
			p.warnings = append(p.warnings, "--jid with a resource matches only that resource; a bare JID is strongly recommended (XEP-0136 §2.5)")
		}
	}
	switch {
	case p.jid != "" && p.thread != "":
		return nil, usagef("--jid and --thread exclude each other")
	case exact && p.jid == "":
		return nil, usagef("--exact needs --jid")
	case remove && p.jid == "" && p.thread == "":
		return nil, usagef("--remove needs --jid or --thread")
	case remove && len(sets) > 0:
		return nil, usagef("--remove takes no --set")
	}
	seen := map[string]bool{}
	scope := false
	for _, kv := range sets {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || v == "" {
			return nil, usagef("--set %q: want KEY=VALUE", kv)
		}
		if seen[k] {
			return nil, usagef("--set %s given twice", k)
		}
		seen[k] = true
		var err error
		switch {
		case k == "save":
			if p.save, err = archive.ParseSaveMode(v); err != nil {
				return nil, usagef("--set save=%q: want body, false, message or stream", v)
			}
			if p.save == archive.SaveMessage || p.save == archive.SaveStream {
				p.warnings = append(p.warnings, "save="+v+" asks the server to keep whole messages; clients are recommended not to (XEP-0136 §2.2), and many servers refuse it")
			}
		case k == "otr":
			if p.thread != "" {
				return nil, usagef("--thread takes save only (the OTR mode of a session is negotiated)")
			}
			if p.otr, err = archive.ParseOTRMode(v); err != nil {
				return nil, usagef("--set otr=%q: want approve, concede, forbid, oppose, prefer or require", v)
			}
		case k == "expire":
			if p.thread != "" {
				return nil, usagef("--thread takes save only")
			}
			if p.expire, err = time.ParseDuration(v); err != nil || p.expire < time.Second {
				return nil, usagef("--set expire=%q: want a duration of at least 1s, like 720h", v)
			}
		case strings.HasPrefix(k, "method."):
			m := archive.MethodPref{Type: archive.MethodType(strings.TrimPrefix(k, "method.")), Use: archive.MethodUse(v)}
			if p.jid != "" || p.thread != "" {
				return nil, usagef("--set %s is not per contact or session", k)
			}
			switch m.Type {
			case archive.MethodAuto, archive.MethodLocal, archive.MethodManual:
			default:
				return nil, withHint(usagef("unknown preference %q", k), "the methods are method.auto, method.local and method.manual")
			}
			switch m.Use {
			case archive.UsePrefer, archive.UseConcede, archive.UseForbid:
			default:
				return nil, usagef("--set %s=%q: want prefer, concede or forbid", k, v)
			}
			p.methods = append(p.methods, m)
		case k == "auto":
			if p.jid != "" || p.thread != "" {
				return nil, usagef("--set auto is not per contact or session")
			}
			b, ok := map[string]bool{"true": true, "1": true, "on": true, "false": false, "0": false, "off": false}[v]
			if !ok {
				return nil, usagef("--set auto=%q: want true or false", v)
			}
			p.auto = &archive.Auto{Save: b, Scope: archive.ScopeStream}
		case k == "auto-scope":
			if v != "global" && v != "stream" {
				return nil, usagef("--set auto-scope=%q: want global or stream", v)
			}
			scope = v == "global"
		default:
			return nil, withHint(usagef("unknown preference %q", k), "keys: save, otr, expire, method.auto, method.local, method.manual, auto, auto-scope")
		}
	}
	if scope {
		if p.auto == nil {
			return nil, usagef("--set auto-scope needs --set auto")
		}
		p.auto.Scope = archive.ScopeGlobal
	}
	if p.otr == archive.OTRRequire && p.save != archive.SaveFalse {
		return nil, withHint(usagef("otr=require needs save=false (XEP-0136 §2.2)"), "add --set save=false")
	}
	if p.thread != "" && !remove && p.save == "" {
		return nil, usagef("--thread needs --set save=MODE (or --remove)")
	}
	if p.auto != nil && p.auto.Save {
		p.warnings = append(p.warnings, "automatic archiving stores what crosses the server: encrypted sessions only as ciphertext nobody can read later; esn archive save archives them readably")
	}
	return p, nil
}

// apply sends the changes: one kind per request, as the XEP's examples do
// (digest §8.6 #60).
func (p *prefPlan) apply(s *archiveSession) error {
	ctx, c := s.ctx, s.c
	switch {
	case p.remove && p.jid != "":
		return c.RemoveItems(ctx, p.jid)
	case p.remove:
		return c.RemoveSessions(ctx, p.thread)
	}
	if p.save != "" || p.otr != "" || p.expire != 0 {
		switch {
		case p.thread != "":
			if err := c.SetPrefs(ctx, &archive.Prefs{Sessions: []archive.SessionPref{{Thread: p.thread, Save: p.save}}}); err != nil {
				return err
			}
		case p.jid != "":
			it := archive.ItemPref{JID: p.jid, OTR: p.otr, Save: p.save, Expire: p.expire, ExactMatch: p.exact}
			if err := c.SetPrefs(ctx, &archive.Prefs{Items: []archive.ItemPref{it}}); err != nil {
				return err
			}
		default:
			// <default/> needs both modes: keep the server's for the one not given.
			cur, err := c.Prefs(ctx)
			if err != nil {
				return err
			}
			d := *cur.Default
			d.Unset = false
			if p.save != "" {
				d.Save = p.save
			}
			if p.otr != "" {
				d.OTR = p.otr
			}
			if p.expire != 0 {
				d.Expire = p.expire
			}
			if d.OTR == archive.OTRRequire && d.Save != archive.SaveFalse {
				return usagef("otr=require needs save=false; the default save mode is %s (add --set save=false)", d.Save)
			}
			if err := c.SetPrefs(ctx, &archive.Prefs{Default: &d}); err != nil {
				return err
			}
		}
	}
	if len(p.methods) > 0 {
		if err := c.SetPrefs(ctx, &archive.Prefs{Methods: p.methods}); err != nil {
			return err
		}
	}
	if p.auto != nil {
		if err := c.SetAuto(ctx, *p.auto); err != nil {
			return err
		}
	}
	return nil
}

// prefsJSON is `esn archive prefs --json`.
type prefsJSON struct {
	Auto     *autoJSON         `json:"auto"`
	Default  *prefModesJSON    `json:"default"`
	Items    []prefModesJSON   `json:"items"`
	Sessions []prefModesJSON   `json:"sessions"`
	Methods  map[string]string `json:"methods"`
}

type autoJSON struct {
	Save  bool   `json:"save"`
	Scope string `json:"scope"`
}

type prefModesJSON struct {
	JID        string `json:"jid,omitempty"`
	Thread     string `json:"thread,omitempty"`
	OTR        string `json:"otr,omitempty"`
	Save       string `json:"save"`
	Expire     string `json:"expire,omitempty"`
	Timeout    string `json:"timeout,omitempty"`
	ExactMatch bool   `json:"exactmatch,omitempty"`
	Unset      bool   `json:"unset,omitempty"`
}

func durText(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

func (a *app) printPrefs(p *archive.Prefs) error {
	j := prefsJSON{Methods: map[string]string{}, Items: []prefModesJSON{}, Sessions: []prefModesJSON{}}
	if p.Auto != nil {
		j.Auto = &autoJSON{Save: p.Auto.Save, Scope: string(p.Auto.Scope)}
	}
	if d := p.Default; d != nil {
		j.Default = &prefModesJSON{OTR: string(d.OTR), Save: string(d.Save), Expire: durText(d.Expire), Unset: d.Unset}
	}
	for _, it := range p.Items {
		j.Items = append(j.Items, prefModesJSON{JID: it.JID, OTR: string(it.OTR), Save: string(it.Save), Expire: durText(it.Expire), ExactMatch: it.ExactMatch})
	}
	for _, s := range p.Sessions {
		j.Sessions = append(j.Sessions, prefModesJSON{Thread: s.Thread, Save: string(s.Save), Timeout: durText(s.Timeout)})
	}
	for _, m := range p.Methods {
		j.Methods[string(m.Type)] = string(m.Use)
	}
	if a.flags.json {
		return a.ui.emitJSON(j)
	}
	if p.Auto != nil {
		a.ui.printf("automatic archiving: %v (%s)\n", p.Auto.Save, p.Auto.Scope)
	}
	line := func(what string, m prefModesJSON) {
		s := fmt.Sprintf("%s: save=%s", what, m.Save)
		if m.OTR != "" {
			s += " otr=" + m.OTR
		}
		if m.Expire != "" {
			s += " expire=" + m.Expire
		}
		if m.Timeout != "" {
			s += " timeout=" + m.Timeout
		}
		if m.ExactMatch {
			s += " (exact)"
		}
		if m.Unset {
			s += " (server defaults)"
		}
		a.ui.printf("%s\n", s)
	}
	if j.Default != nil {
		line("default", *j.Default)
	}
	for _, m := range j.Items {
		line("contact "+m.JID, m)
	}
	for _, m := range j.Sessions {
		line("session "+m.Thread, m)
	}
	for _, t := range []archive.MethodType{archive.MethodAuto, archive.MethodLocal, archive.MethodManual} {
		if u, ok := j.Methods[string(t)]; ok {
			a.ui.printf("method %s: %s\n", t, u)
		}
	}
	return nil
}
