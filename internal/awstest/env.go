package awstest

import (
	"strings"
	"testing"
)

// StartEnv starts a TLS test endpoint for t and points the standard AWS
// chain of this process at it (Env, through t.Setenv), closing it when t
// ends: what a unit test that loads the AWS configuration needs.
func StartEnv(t testing.TB) *Server {
	t.Helper()
	s := New()
	if err := s.StartTLS(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	for _, kv := range s.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	return s
}
