package mesh

import "strings"

// HostService reads a DestinationRule's (or another Istio object's) host
// as a Kubernetes Service: name (in the object's namespace drNS), name.ns,
// name.ns.svc or name.ns.svc.<domain>. A wildcard or another form names
// no one Service.
func HostService(host, drNS string) (name, ns string, ok bool) {
	if strings.Contains(host, "*") {
		return "", "", false
	}
	parts := strings.Split(host, ".")
	switch {
	case len(parts) == 1:
		return parts[0], drNS, true
	case len(parts) == 2 || parts[2] == "svc":
		return parts[0], parts[1], true
	}
	return "", "", false
}
