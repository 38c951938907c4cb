package model

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/meshfed/kubectl-meshfed/pkg/pki"
)

// SecretData holds a Secret's data in memory for the checks and probes that
// need it (certificates, keys, kubeconfigs). It never shows its values: its
// String, GoString and MarshalJSON give each key with a short SHA-256 of its
// value, so a Snapshot can be logged, dumped or rendered without leaking.
type SecretData map[string][]byte

// Redacted is the one form in which a secret value is shown anywhere (a
// Secret's data, a plan's Secret, an error that quoted a value): its length
// and its fingerprint (pki.Fingerprint), never the value.
func Redacted(value []byte) string {
	return fmt.Sprintf("<redacted %d bytes, %s>", len(value), pki.Fingerprint(value))
}

// Keys returns the data keys, sorted.
func (d SecretData) Keys() []string {
	keys := make([]string, 0, len(d))
	for k := range d {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func (d SecretData) redacted() map[string]string {
	out := make(map[string]string, len(d))
	for k, v := range d {
		out[k] = Redacted(v)
	}
	return out
}

// String lists the keys with fingerprints of their values.
func (d SecretData) String() string {
	r := d.redacted()
	parts := make([]string, 0, len(r))
	for _, k := range d.Keys() {
		parts = append(parts, k+"="+r[k])
	}
	return "{" + strings.Join(parts, " ") + "}"
}

// GoString keeps %#v from printing the bytes.
func (d SecretData) GoString() string { return "model.SecretData" + d.String() }

// Format makes every fmt verb (%v, %+v, %s, %x, %q) show the redacted form.
func (d SecretData) Format(f fmt.State, verb rune) { _, _ = f.Write([]byte(d.String())) }

// MarshalJSON writes the redacted form.
func (d SecretData) MarshalJSON() ([]byte, error) { return json.Marshal(d.redacted()) }

// UnmarshalJSON refuses to read secret data back: a dump never holds any, so
// a Snapshot loaded from a dump has Secrets with key names only.
func (d *SecretData) UnmarshalJSON(b []byte) error {
	var keys map[string]string
	if err := json.Unmarshal(b, &keys); err != nil {
		return err
	}
	*d = make(SecretData, len(keys))
	for k := range keys {
		(*d)[k] = nil
	}
	return nil
}
