package main

import (
	"github.com/spf13/cobra"
)

func newCompletionCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "completion bash|zsh|fish",
		Short: "Print a shell completion script",
		Long: `Print a completion script for bash, zsh or fish on stdout.

Load it in the current shell, or install it where your shell looks for
completions.`,
		Example: `  # bash, this shell only
  source <(esn completion bash)

  # bash, for every new shell
  esn completion bash > ~/.local/share/bash-completion/completions/esn

  # zsh (with compinit enabled)
  esn completion zsh > "${fpath[1]}/_esn"

  # fish
  esn completion fish > ~/.config/fish/completions/esn.fish`,
		ValidArgs: []string{"bash", "zsh", "fish"},
		Args:      cobra.MatchAll(cobra.ExactArgs(1), cobra.OnlyValidArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			root := cmd.Root()
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(a.stdout, true)
			case "zsh":
				return root.GenZshCompletion(a.stdout)
			default:
				return root.GenFishCompletion(a.stdout, true)
			}
		},
	}
}
