package model

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func TestSecretDataNeverShowsValues(t *testing.T) {
	const value = "s3cr3t-token-value"
	s := Secret{Meta: Meta{Name: "remote"}, Data: SecretData{"east": []byte(value)}}
	js, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	outputs := map[string]string{
		"%v": fmt.Sprintf("%v", s), "%+v": fmt.Sprintf("%+v", s), "%#v": fmt.Sprintf("%#v", s),
		"%s": fmt.Sprintf("%s", s.Data), "%x": fmt.Sprintf("%x", s.Data), "%q": fmt.Sprintf("%q", s.Data),
		"json": string(js),
	}
	for how, out := range outputs {
		if strings.Contains(out, value) || strings.Contains(out, fmt.Sprintf("%x", value)) {
			t.Errorf("%s shows the secret value: %s", how, out)
		}
		if !strings.Contains(out, "east") {
			t.Errorf("%s lost the key name: %s", how, out)
		}
	}
	var back Secret
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	if v, ok := back.Data["east"]; !ok || v != nil {
		t.Errorf("a dumped secret should come back with its key and no value, got %v %q", ok, string(v))
	}
}
