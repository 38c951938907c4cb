package connectivity

import "fmt"

// mergeObject merges src into dst the way server-side apply merges two
// apply configurations of one manager for the fields meshfed sets: maps key
// by key, lists of objects by their key field (port for Service ports, name
// for containers and env), anything else replaced by src. It lets one change answer several
// findings about the same object.
func mergeObject(dst, src map[string]any) {
	for k, sv := range src {
		dv, ok := dst[k]
		if !ok {
			dst[k] = sv
			continue
		}
		switch s := sv.(type) {
		case map[string]any:
			if d, ok := dv.(map[string]any); ok {
				mergeObject(d, s)
				continue
			}
		case []any:
			if d, ok := dv.([]any); ok {
				if merged, ok := mergeList(d, s); ok {
					dst[k] = merged
					continue
				}
			}
		}
		dst[k] = sv
	}
}

// mergeList merges lists whose items are objects sharing a key field; ok is
// false for any other list (replaced whole, as an atomic list is).
func mergeList(dst, src []any) ([]any, bool) {
	key := listKey(dst, src)
	if key == "" {
		return nil, false
	}
	out := append([]any(nil), dst...)
	for _, item := range src {
		s := item.(map[string]any)
		found := false
		for _, o := range out {
			d := o.(map[string]any)
			if fmt.Sprint(d[key]) == fmt.Sprint(s[key]) {
				mergeObject(d, s)
				found = true
				break
			}
		}
		if !found {
			out = append(out, s)
		}
	}
	return out, true
}

func listKey(lists ...[]any) string {
	for _, key := range []string{"port", "name"} {
		all := true
		for _, l := range lists {
			for _, item := range l {
				m, ok := item.(map[string]any)
				if !ok {
					return ""
				}
				if _, ok := m[key]; !ok {
					all = false
				}
			}
		}
		if all {
			return key
		}
	}
	return ""
}
