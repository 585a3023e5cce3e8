package main

import (
	"github.com/esn-project/esn/pkg/archive"
	"github.com/spf13/cobra"
)

func newArchiveRemoveCmd(a *app) *cobra.Command {
	var (
		with, start, end string
		exact, open, all bool
	)
	c := &cobra.Command{
		Use:   "remove",
		Short: "Remove archived collections",
		Long: `Remove collections from your server's archive (XEP-0136 §7.3):

  --with JID --start TIME             the one collection with JID started at TIME
  [--with JID] --start T1 --end T2    every collection in a range (--with by JID
                                      matching, --exact for the string only);
  --end T2, or --start T1 without --with
                                      everything before T2, or from T1 on
  --open [--with JID]                 the collections automatic archiving is
                                      recording now (e.g. an OTR negotiation)
  --all                               every collection

Removing nothing is an error (exit 69).`,
		Example: `  esn archive remove --with alice@example.org/laptop --start 2024-05-01T10:00:00Z
  esn archive remove --with alice@example.org --end 2024-01-01T00:00:00Z
  esn archive remove --all`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := parseArchiveRange(with, start, end)
			if err != nil {
				return err
			}
			q := archive.RemoveQuery{With: r.with, Start: r.start, End: r.end, ExactMatch: exact, Open: open, All: all}
			switch {
			case exact && with == "":
				return usagef("--exact needs --with")
			case all && (with != "" || start != "" || end != "" || open || exact):
				return usagef("--all takes no other selector")
			case open && (start != "" || end != ""):
				return usagef("--open takes only --with")
			case !all && !open && start == "" && end == "":
				return withHint(usagef("say what to remove: --start (with --with for one collection), --end, --open or --all"),
					"esn archive list shows the collections")
			case !q.End.IsZero() && !q.Start.IsZero() && !q.End.After(q.Start):
				return usagef("--end must be after --start")
			}
			if err := a.load(); err != nil {
				return err
			}
			s, err := a.connectArchive(cmd.Context())
			if err != nil {
				return err
			}
			defer s.close()
			if err := s.c.Remove(s.ctx, q); err != nil {
				return archiveErr(err)
			}
			if a.flags.json {
				return a.ui.emitJSON(map[string]any{"removed": true, "with": q.With, "start": timeOrEmpty(start, q),
					"end": end, "open": open, "all": all})
			}
			a.ui.noticef("removed")
			return nil
		},
	}
	c.Flags().StringVar(&with, "with", "", "collections with `JID`")
	c.Flags().StringVar(&start, "start", "", "the collection's start, or the range's start `TIME`")
	c.Flags().StringVar(&end, "end", "", "the range's end `TIME` (exclusive)")
	c.Flags().BoolVar(&exact, "exact", false, "with --with: that exact JID string only")
	c.Flags().BoolVar(&open, "open", false, "only collections automatic archiving is recording now")
	c.Flags().BoolVar(&all, "all", false, "every collection")
	return c
}

func timeOrEmpty(flag string, q archive.RemoveQuery) string {
	if flag == "" {
		return ""
	}
	return archive.FormatTime(q.Start)
}
