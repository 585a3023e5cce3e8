package main

import (
	"github.com/esn-project/esn/pkg/archive"
	"github.com/spf13/cobra"
)

func newArchiveListCmd(a *app) *cobra.Command {
	var (
		with, start, end, after string
		exact                   bool
		max                     int
	)
	c := &cobra.Command{
		Use:   "list",
		Short: "List archived collections, oldest first",
		Long: `List the collections in your server's archive (XEP-0136 §7.1), oldest first:
start time, peer JID, thread, version, and whether it is encrypted. --with
matches a full JID exactly, a bare JID with any resource, a domain with any
user at it (--exact: that string only). --start and --end bound the start
time. At most --max collections are printed; when there are more, a hint
gives the --after value for the next ones.`,
		Example: `  esn archive list
  esn archive list --with alice@example.org --max 20
  esn archive list --json --start 2024-05-01T00:00:00Z | jq -r .start`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if exact && with == "" {
				return usagef("--exact needs --with")
			}
			r, err := parseArchiveRange(with, start, end)
			if err != nil {
				return err
			}
			q := archive.Query{With: r.with, Start: r.start, End: r.end, ExactMatch: exact}
			if max < 1 || max > 100000 {
				return usagef("--max must be between 1 and 100000")
			}
			if err := a.load(); err != nil {
				return err
			}
			s, err := a.connectArchive(cmd.Context())
			if err != nil {
				return err
			}
			defer s.close()
			// Pages never need cutting: RSM IDs are opaque, so the
			// only resumable position is the end of a page.
			p := archive.Page{After: after}
			n := 0
			for n < max {
				p.Max = min(max-n, archivePageSize)
				cols, r, err := s.c.List(s.ctx, q, p)
				if err != nil {
					return archiveErr(err)
				}
				for _, col := range cols {
					if err := a.printCollection(newCollectionJSON(col)); err != nil {
						return err
					}
				}
				n += len(cols)
				more := len(cols) > 0 && r.Last != "" && r.Last != p.After &&
					!(r.Count >= 0 && r.FirstIndex >= 0 && r.FirstIndex+len(cols) >= r.Count) && len(cols) == p.Max
				if !more {
					break
				}
				p.After = r.Last
				if n >= max {
					a.ui.hintf("there are more collections: esn archive list --after %q", r.Last)
				}
			}
			if n == 0 {
				a.ui.noticef("no collections")
			}
			return nil
		},
	}
	c.Flags().StringVar(&with, "with", "", "only collections with `JID` (full, bare or domain)")
	c.Flags().BoolVar(&exact, "exact", false, "with --with: that exact JID string only")
	c.Flags().StringVar(&start, "start", "", "only collections started at or after `TIME` (2024-05-01T10:00:00Z)")
	c.Flags().StringVar(&end, "end", "", "only collections started before `TIME`")
	c.Flags().IntVar(&max, "max", 100, "print at most `N` collections")
	c.Flags().StringVar(&after, "after", "", "continue after the opaque `ID` a previous list gave")
	return c
}
