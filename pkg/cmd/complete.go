package cmd

import (
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/meshfed/kubectl-meshfed/pkg/checks"
	"github.com/meshfed/kubectl-meshfed/pkg/kube"
)

// registerCompletions completes, on every command that has them, the flags
// whose values the plugin knows: --context and --contexts (the kubeconfig's
// contexts), --checks, --skip and --only (check IDs and areas). kubectl's
// plugin completion (kubectl_complete-meshfed) and `completion SHELL` both
// ask the binary through cobra's __complete, so both get these.
func registerCompletions(root *cobra.Command, flags *kube.Flags, catalog func() *checks.Catalog) {
	_ = root.RegisterFlagCompletionFunc("context", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return contextNames(flags), cobra.ShellCompDirectiveNoFileComp
	})
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.LocalNonPersistentFlags().Lookup("contexts") != nil {
			_ = c.RegisterFlagCompletionFunc("contexts", func(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
				return completeList(toComplete, contextNames(flags)), cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
			})
		}
		for _, name := range []string{"checks", "skip", "only"} {
			if c.LocalNonPersistentFlags().Lookup(name) != nil && catalog != nil {
				_ = c.RegisterFlagCompletionFunc(name, func(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
					return completeList(toComplete, checkNames(catalog())), cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
				})
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// contextNames are the kubeconfig's contexts, sorted; none when it cannot
// be read (completion has nowhere to say why).
func contextNames(flags *kube.Flags) []string {
	raw, err := flags.RawConfig()
	if err != nil {
		return nil
	}
	names := make([]string, 0, len(raw.Contexts))
	for n := range raw.Contexts {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// checkNames are the areas, then the check IDs with their titles (shells
// that show descriptions show the title after a tab).
func checkNames(cat *checks.Catalog) []string {
	var out []string
	for _, a := range checks.Areas {
		out = append(out, string(a)+"\tarea")
	}
	for _, m := range cat.Entries() {
		out = append(out, string(m.ID)+"\t"+m.Title)
	}
	return out
}

// completeList completes the last entry of a comma-separated list: the
// entries already given are kept as the prefix and not offered again.
func completeList(toComplete string, values []string) []string {
	given, last := "", toComplete
	if i := strings.LastIndex(toComplete, ","); i >= 0 {
		given, last = toComplete[:i+1], toComplete[i+1:]
	}
	seen := map[string]bool{}
	for _, g := range strings.Split(given, ",") {
		seen[g] = true
	}
	var out []string
	for _, v := range values {
		name, _, _ := strings.Cut(v, "\t")
		if !seen[name] && strings.HasPrefix(strings.ToLower(name), strings.ToLower(last)) {
			out = append(out, given+v)
		}
	}
	return out
}
