package render

import (
	"encoding/json"
	"fmt"
	"io"

	"sigs.k8s.io/yaml"
)

// JSON writes v as indented JSON. The Report's JSON form is its documented
// schema, so it is written as it is, never reshaped here.
func JSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	// Messages hold URLs and "<none>"; keep them readable, not \u0026.
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// YAML writes v as YAML with the same field names as its JSON form.
func YAML(w io.Writer, v any) error {
	b, err := yaml.Marshal(v)
	if err != nil {
		return fmt.Errorf("rendering YAML: %w", err)
	}
	_, err = w.Write(b)
	return err
}
