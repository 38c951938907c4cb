package cmd

import (
	"time"

	"github.com/spf13/pflag"

	"github.com/meshfed/kubectl-meshfed/pkg/bundle"
	"github.com/meshfed/kubectl-meshfed/pkg/diagnosis"
)

// FromFlag is --from: judge support bundles (kubectl meshfed dump) instead
// of reading clusters.
type FromFlag struct {
	From []string
}

// AddFlag registers --from.
func (f *FromFlag) AddFlag(fs *pflag.FlagSet) {
	fs.StringArrayVar(&f.From, "from", nil, "Judge this support bundle (kubectl meshfed dump) instead of reading clusters; repeat to merge bundles into one fleet (a cluster in several: the newest reading is used)")
}

// Validate refuses flags that choose or read clusters alongside --from:
// a bundle's clusters were chosen and read when it was written.
func (f *FromFlag) Validate(changed func(string) bool) error {
	if len(f.From) == 0 {
		return nil
	}
	for _, name := range []string{"contexts", "all-contexts", "timeout", "probe-timeout", "istio-namespace", "istiod-debug-address", "aws", "aws-profile", "pca-arn"} {
		if changed(name) {
			return failed("--%s cannot be used with --from: the bundle's clusters were chosen and read when it was written", name)
		}
	}
	return nil
}

// backend returns the backend to run with: b itself without --from, else
// one that judges the merged bundles, and the instant their runs judged
// certificates at. A bundle that cannot be read whole is an error (exit
// 3) before anything is reported.
func (f *FromFlag) backend(b Backend) (Backend, time.Time, error) {
	if len(f.From) == 0 {
		return b, time.Time{}, nil
	}
	var bs []*bundle.Bundle
	for _, path := range f.From {
		bu, err := bundle.ReadFile(path)
		if err != nil {
			return b, time.Time{}, failed("reading bundle: %v", err)
		}
		bs = append(bs, bu)
	}
	merged, err := bundle.Merge(bs, time.Now())
	if err != nil {
		return b, time.Time{}, failed("merging bundles: %v", err)
	}
	b.Diagnosis = diagnosis.FromBundles(merged)
	return b, merged.Offline.JudgedAt, nil
}
