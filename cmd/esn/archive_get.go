package main

import (
	"fmt"
	"io"

	"github.com/esn-project/esn/pkg/archive"
	"github.com/esn-project/esn/pkg/xmltree"
	"github.com/spf13/cobra"
)

func newArchiveGetCmd(a *app) *cobra.Command {
	var (
		raw, legacy bool
		max         int
	)
	c := &cobra.Command{
		Use:   "get WITH START",
		Short: "Retrieve an archived collection and decrypt it",
		Long: `Retrieve the collection with WITH that started at START (as 'esn archive list'
prints them), page by page (XEP-0136 §7.2), and print its messages and
notes, oldest first; with --json one object per line:

  {"with":"alice@example.org/laptop","start":"2024-05-01T10:00:00Z",
   "thread":"…","kind":"from","time":"2024-05-01T10:00:02Z","body":"hello"}

kind is from (received), to (sent) or note. An encrypted collection
(XEP-0241) is decrypted with your private key (ESN_KEY_PASSPHRASE or a
prompt if it has a passphrase). --raw prints the collection as XML instead,
undecrypted, for 'esn archive decrypt' later.`,
		Example: `  esn archive get alice@example.org/laptop 2024-05-01T10:00:00Z
  esn archive get --raw alice@example.org/laptop 2024-05-01T10:00:00Z > chat.xml`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			with, err := parseArchiveJID("WITH", args[0])
			if err != nil {
				return err
			}
			start, err := parseArchiveTime("START", args[1])
			if err != nil {
				return err
			}
			if max < 1 || max > archiveMaxEntries {
				return usagef("--max must be between 1 and %d", archiveMaxEntries)
			}
			if raw && legacy {
				return usagef("--raw does not decrypt: --allow-legacy has no effect with it")
			}
			account, err := a.loadAccount()
			if err != nil {
				return err
			}
			s, err := a.connectArchive(cmd.Context())
			if err != nil {
				return err
			}
			col, err := s.c.RetrieveAll(s.ctx, with, start, archivePageSize, max)
			s.close()
			if err != nil {
				return archiveErr(err)
			}
			if raw {
				e, err := col.Element()
				if err != nil {
					return err
				}
				e.SetAttr("version", fmt.Sprint(col.Version))
				a.ui.printf("%s\n", e)
				return nil
			}
			entries, err := a.decryptCollection(account, col, legacy)
			if err != nil {
				return err
			}
			return a.printEntries(col, entries)
		},
	}
	c.Flags().BoolVar(&raw, "raw", false, "print the collection's XML, undecrypted")
	c.Flags().BoolVar(&legacy, "allow-legacy", false, "decrypt XEP-0241's unauthenticated aes128-cbc/rsa-1_5 collections too")
	c.Flags().IntVar(&max, "max", 10000, "retrieve at most `N` messages (or encrypted blocks)")
	return c
}

func newArchiveDecryptCmd(a *app) *cobra.Command {
	var legacy bool
	c := &cobra.Command{
		Use:   "decrypt [FILE]",
		Short: "Decrypt a collection saved with 'esn archive get --raw', offline",
		Long: `Read a <chat xmlns='urn:xmpp:archive'/> collection (as 'esn archive get --raw'
prints it, or a XEP-0136 retrieve result) from FILE or standard input,
decrypt it with your private key if it is encrypted (XEP-0241), and print
its messages as 'esn archive get' does. No connection is made.`,
		Example: `  esn archive decrypt chat.xml
  esn archive decrypt --json < chat.xml`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in, name, err := a.openInput(args, usagef("esn archive decrypt reads a collection from FILE or standard input, not a terminal"))
			if err != nil {
				return err
			}
			defer in.Close()
			data, err := io.ReadAll(io.LimitReader(in, archiveMaxXMLInput+1))
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			if len(data) > archiveMaxXMLInput {
				return fmt.Errorf("%s: %w: more than %d bytes", name, xmltree.ErrTooLarge, archiveMaxXMLInput)
			}
			e, err := xmltree.Parse(data, xmltree.Limits{MaxBytes: archiveMaxXMLInput, MaxNodes: 1 << 20})
			if err != nil {
				return fmt.Errorf("%s: %w: %w", name, archive.ErrMalformed, err)
			}
			col, err := archive.ParseCollection(e)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			account, err := a.loadAccount()
			if err != nil {
				return err
			}
			entries, err := a.decryptCollection(account, col, legacy)
			if err != nil {
				return err
			}
			return a.printEntries(col, entries)
		},
	}
	c.Flags().BoolVar(&legacy, "allow-legacy", false, "decrypt XEP-0241's unauthenticated aes128-cbc/rsa-1_5 collections too")
	return c
}
