package trust

import "time"

// Options tune the trust checks. The CLI maps flags onto it:
//
//	--cert-warn-days N   → CertWarn  = N × 24h
//	--cert-error-days N  → CertError = N × 24h
//	--min-rsa-bits N     → MinRSABits
//
// and registers ChecksWith(opts) in place of Checks().
type Options struct {
	// Now is the time certificates are judged at; zero means the time of
	// the run. Fixtures and tests set it so that they never rot.
	Now time.Time
	// CertWarn: a CA certificate that expires within it is a warning.
	CertWarn time.Duration
	// CertError: a CA certificate that expires within it is an error.
	CertError time.Duration
	// MinRSABits is the smallest RSA key accepted in the CA chain.
	MinRSABits int
}

// Defaults of Options.
const (
	DefaultCertWarnDays  = 30
	DefaultCertErrorDays = 7
	DefaultMinRSABits    = 2048
)

// DefaultOptions are the options without flags.
func DefaultOptions() Options {
	return Options{
		CertWarn:   DefaultCertWarnDays * 24 * time.Hour,
		CertError:  DefaultCertErrorDays * 24 * time.Hour,
		MinRSABits: DefaultMinRSABits,
	}
}

func (o Options) now() time.Time {
	if o.Now.IsZero() {
		return time.Now()
	}
	return o.Now
}

// withDefaults fills what is unset, and fixes the time of the run.
func (o Options) withDefaults() Options {
	d := DefaultOptions()
	if o.CertWarn <= 0 {
		o.CertWarn = d.CertWarn
	}
	if o.CertError <= 0 {
		o.CertError = d.CertError
	}
	if o.CertError > o.CertWarn {
		o.CertWarn = o.CertError
	}
	if o.MinRSABits <= 0 {
		o.MinRSABits = d.MinRSABits
	}
	o.Now = o.now()
	return o
}
