package mesh

import (
	"strings"
	"testing"
)

func TestLoopbackServer(t *testing.T) {
	for s, want := range map[string]bool{
		"https://127.0.0.1:6443": true, "https://localhost:6443": true, "https://[::1]:6443": true,
		"https://127.3.2.2:6443": true, "https://api.localhost": true,
		"https://10.0.0.1:6443": false, "https://east.example": false, "::bad": false,
	} {
		if got := LoopbackServer(s); got != want {
			t.Errorf("LoopbackServer(%q) = %v", s, got)
		}
	}
}

func TestSameServer(t *testing.T) {
	if !SameServer("https://East.example", "https://east.example:443/") {
		t.Error("default port and case should not matter")
	}
	if SameServer("https://east.example:6443", "https://east.example") || SameServer("", "") {
		t.Error("different ports, or nothing, are not the same server")
	}
}

func TestParseEntryErrorsNeverQuote(t *testing.T) {
	const token = "sekret-token-value"
	for name, kc := range map[string]string{
		"garbage":    "{{ " + token,
		"no-context": "apiVersion: v1\nkind: Config\nusers:\n- name: u\n  user: {token: " + token + "}\n",
		"token-file": "apiVersion: v1\nkind: Config\ncurrent-context: c\ncontexts:\n- name: c\n  context: {cluster: c, user: u}\nclusters:\n- name: c\n  cluster: {server: 'https://" + token + ":1'}\nusers:\n- name: u\n  user: {tokenFile: /" + token + "}\n",
	} {
		e := parseEntry([]byte(kc))
		if e.Err == "" {
			t.Errorf("%s: no error", name)
		}
		if strings.Contains(e.Err, token) || strings.Contains(e.Auth, token) {
			t.Errorf("%s: error quotes the kubeconfig: %s", name, e.Err)
		}
	}
	ok := parseEntry([]byte("apiVersion: v1\nkind: Config\ncurrent-context: c\ncontexts:\n- name: c\n  context: {cluster: c, user: u}\nclusters:\n- name: c\n  cluster: {server: 'https://east.example:6443'}\nusers:\n- name: u\n  user: {token: " + token + "}\n"))
	if ok.Err != "" || ok.Auth != "token" || ok.Server != "https://east.example:6443" {
		t.Errorf("valid kubeconfig: %+v", ok)
	}
}

func TestParseEntryWithoutData(t *testing.T) {
	if e := parseEntry(nil); !e.Unread || e.Err != "" {
		t.Errorf("a value not in the snapshot (a dump) is unread, not broken: %+v", e)
	}
	if e := parseEntry([]byte{}); e.Unread || e.Err == "" {
		t.Errorf("an empty value is a broken kubeconfig: %+v", e)
	}
}

// FuzzParseEntry: a remote secret's value is untrusted input. Parsing never
// panics, and a token in it never reaches the error or the auth kind.
func FuzzParseEntry(f *testing.F) {
	f.Add([]byte("apiVersion: v1\nkind: Config\ncurrent-context: c\ncontexts:\n- name: c\n  context: {cluster: c, user: u}\nclusters:\n- name: c\n  cluster: {server: 'https://a:1'}\nusers:\n- name: u\n  user: {token: FUZZTOKENVALUE}\n"))
	f.Add([]byte("{{ FUZZTOKENVALUE"))
	f.Add([]byte(`{"apiVersion":"v1","kind":"Config","users":[{"name":"u","user":{"token":"FUZZTOKENVALUE"}}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e := parseEntry(b)
		if strings.Contains(e.Err, "FUZZTOKENVALUE") {
			t.Errorf("the error quotes the input: %s", e.Err)
		}
		if e.Err == "" && e.Server == "" && !e.Unread {
			t.Errorf("a usable entry has a server: %+v", e)
		}
	})
}
