package cmd

import (
	"time"

	"github.com/spf13/pflag"

	"github.com/meshfed/kubectl-meshfed/pkg/bundle"
	"github.com/meshfed/kubectl-meshfed/pkg/diagnosis"
)

// BundleFlag is --bundle: judge support bundles (kubectl meshfed dump)
// instead of reading clusters. doctor, topology and trace share the
// spelling; trace's --from names the cluster a call starts in (its
// released meaning), so bundles are never --from there.
type BundleFlag struct {
	Bundles []string
}

// bundleUsage is --bundle's help.
const bundleUsage = "Judge this support bundle (kubectl meshfed dump) instead of reading clusters; repeat to merge bundles into one fleet (a cluster in several: the newest reading is used)"

// AddFlag registers --bundle.
func (f *BundleFlag) AddFlag(fs *pflag.FlagSet) {
	fs.StringArrayVar(&f.Bundles, "bundle", nil, bundleUsage)
}

// AddFlagWithFromAlias registers --bundle and --from as its alias (the
// spelling doctor and topology had before trace's --from CONTEXT). The
// alias is pflag's name normalisation, so that --from and --bundle given
// together append to one list in the order given.
func (f *BundleFlag) AddFlagWithFromAlias(fs *pflag.FlagSet) {
	fs.StringArrayVar(&f.Bundles, "bundle", nil, bundleUsage+" (--from FILE is an alias)")
	fs.SetNormalizeFunc(func(_ *pflag.FlagSet, name string) pflag.NormalizedName {
		if name == "from" {
			name = "bundle"
		}
		return pflag.NormalizedName(name)
	})
}

// Validate refuses flags that choose or read clusters alongside --bundle:
// a bundle's clusters were chosen and read when it was written.
func (f *BundleFlag) Validate(changed func(string) bool) error {
	if len(f.Bundles) == 0 {
		return nil
	}
	for _, name := range []string{"contexts", "all-contexts", "timeout", "probe-timeout", "istio-namespace", "istiod-debug-address", "aws", "aws-profile", "pca-arn"} {
		if changed(name) {
			return failed("--%s cannot be used with --bundle: the bundle's clusters were chosen and read when it was written", name)
		}
	}
	return nil
}

// offline reads and merges the bundles (nil without --bundle). A bundle
// that cannot be read whole is an error (exit 3) before anything is
// reported.
func (f *BundleFlag) offline() (*bundle.Merged, error) {
	if len(f.Bundles) == 0 {
		return nil, nil
	}
	var bs []*bundle.Bundle
	for _, path := range f.Bundles {
		bu, err := bundle.ReadFile(path)
		if err != nil {
			return nil, failed("reading bundle: %v", err)
		}
		bs = append(bs, bu)
	}
	merged, err := bundle.Merge(bs, time.Now())
	if err != nil {
		return nil, failed("merging bundles: %v", err)
	}
	return merged, nil
}

// backend returns the backend to run with: b itself without --bundle, else
// one that judges the merged bundles, the merged bundles, and the instant
// their runs judged certificates at.
func (f *BundleFlag) backend(b Backend) (Backend, *bundle.Merged, time.Time, error) {
	merged, err := f.offline()
	if err != nil || merged == nil {
		return b, nil, time.Time{}, err
	}
	b.Diagnosis = diagnosis.FromBundles(merged)
	return b, merged, merged.Offline.JudgedAt, nil
}
