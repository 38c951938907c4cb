package probe

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"sort"

	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// networkzPath is istiod's list of cross-network gateways
// (istio.io/istio pilot/pkg/xds/debug.go: networkz writes
// s.Env.NetworkManager.AllGateways()).
const networkzPath = "/debug/networkz"

// networkzLimit bounds the answer: about a hundred bytes per gateway.
const networkzLimit = 1 << 20

// networkzEntry is a pilot/pkg/model.NetworkGateway as istiod's writeJSON
// marshals it: no JSON tags, so its Go field names.
type networkzEntry struct {
	Network   string
	Cluster   string
	Addr      string
	Port      uint32
	HBONEPort uint32
}

// readNetworkz reads one istiod's /debug/networkz.
func readNetworkz(ctx context.Context, get getter) *model.IstiodGateways {
	var body []byte
	err := get(ctx, networkzPath, func(r io.Reader) error {
		b, err := io.ReadAll(io.LimitReader(r, networkzLimit+1))
		if err == nil && len(b) > networkzLimit {
			err = errors.New("longer than 1 MiB, not the list istiod writes")
		}
		body = b
		return err
	})
	if err != nil {
		return &model.IstiodGateways{Error: registryError(networkzPath, err)}
	}
	gws, msg := parseNetworkz(body)
	return &model.IstiodGateways{Gateways: gws, Error: msg}
}

// parseNetworkz reads networkz's JSON array. istiod writes nothing at all
// while it has no network manager (networkz returns early), and null when
// it knows no gateway (AllGateways of a manager never given any).
func parseNetworkz(b []byte) ([]model.IstiodGateway, string) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return nil, networkzPath + " answered nothing: istiod has no network manager yet"
	}
	var got []networkzEntry
	if err := json.Unmarshal(b, &got); err != nil {
		return nil, networkzPath + " is not the list istiod writes: " + oneLine(err)
	}
	out := make([]model.IstiodGateway, 0, len(got))
	for _, g := range got {
		out = append(out, model.IstiodGateway{Network: g.Network, Cluster: g.Cluster, Address: g.Addr, Port: g.Port, HBONEPort: g.HBONEPort})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Network != b.Network {
			return a.Network < b.Network
		}
		if a.Cluster != b.Cluster {
			return a.Cluster < b.Cluster
		}
		if a.Address != b.Address {
			return a.Address < b.Address
		}
		return a.Port < b.Port
	})
	return out, ""
}
