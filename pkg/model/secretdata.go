package model

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// SecretData holds a Secret's data in memory for the checks and probes that
// need it (certificates, keys, kubeconfigs). It never shows its values: its
// String, GoString and MarshalJSON give each key with a short SHA-256 of its
// value, so a Snapshot can be logged, dumped or rendered without leaking.
type SecretData map[string][]byte

// Fingerprint is the short SHA-256 of b, the form in which secret values are shown.
func Fingerprint(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:8])
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
		out[k] = fmt.Sprintf("<redacted %d bytes %s>", len(v), Fingerprint(v))
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
func (d SecretData) GoString() string { return "SecretData" + d.String() }

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
