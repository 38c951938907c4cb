package fleet

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"

	"github.com/meshfed/kubectl-meshfed/pkg/kube"
	"github.com/meshfed/kubectl-meshfed/pkg/model"
)

// The large kinds (Services, EndpointSlices, Nodes) are read item by item:
// the LIST's protobuf body is split into its items, each is decoded into
// one reused object, reduced into the cluster and dropped. Decoding the
// whole list first held every decoded object of a cluster at once (about
// 45 MB per 10,000 objects) for the few fields the checks keep, and gave
// the garbage collector all of it to trace.

// protoItem is a Kubernetes type with its generated protobuf decoder.
type protoItem[T any] interface {
	*T
	runtime.Object
	Reset()
	Unmarshal([]byte) error
}

// protobufPrefix starts every protobuf body of the API server: "k8s\x00",
// then a runtime.Unknown whose raw field is the object (here, the list).
var protobufPrefix = []byte{0x6b, 0x38, 0x73, 0x00}

// listItems LISTs resource (in namespace, "" for all) page by page through
// rc, the REST client of the resource's group version, and adds each item to
// c unless drop rejects it. A body that is not protobuf (an aggregated
// server, a proxy that rewrote it) is decoded whole.
func listItems[T any, P protoItem[T]](ctx context.Context, c *model.Cluster, rc rest.Interface, resource, namespace string,
	opts metav1.ListOptions, drop func(P) bool) error {
	opts.Limit = pageSize
	item := P(new(T))
	for {
		var contentType string
		res := rc.Get().Namespace(namespace).Resource(resource).
			VersionedParams(&opts, kube.ParameterCodec()).Do(ctx).ContentType(&contentType)
		body, err := res.Raw()
		if err != nil {
			return err
		}
		next, err := eachItem(body, func(b []byte) error {
			item.Reset()
			if err := item.Unmarshal(b); err != nil {
				return fmt.Errorf("decoding a %s: %w", resource, err)
			}
			if drop != nil && drop(item) {
				return nil
			}
			return addObject(c, item)
		})
		if errors.Is(err, errNotProtobuf) {
			next, err = addDecoded(c, body, drop)
		}
		if err != nil {
			return err
		}
		if next == "" {
			return nil
		}
		// A continue token may not be combined with a resourceVersion.
		opts.Continue, opts.ResourceVersion, opts.ResourceVersionMatch = next, "", ""
	}
}

var errNotProtobuf = errors.New("not a protobuf body")

// eachItem hands each item of a protobuf-encoded List to fn and returns the
// list's continue token.
func eachItem(body []byte, fn func([]byte) error) (string, error) {
	raw, ok := bytes.CutPrefix(body, protobufPrefix)
	if !ok {
		return "", errNotProtobuf
	}
	// runtime.Unknown: typeMeta = 1, raw = 2, contentEncoding = 3, contentType = 4.
	list, err := bytesField(raw, 2)
	if err != nil {
		return "", fmt.Errorf("the list's envelope: %w", err)
	}
	// Every List: metadata (ListMeta) = 1, items = 2.
	var next string
	for len(list) > 0 {
		num, typ, n := protowire.ConsumeTag(list)
		if n < 0 {
			return "", fmt.Errorf("the list: %w", protowire.ParseError(n))
		}
		list = list[n:]
		if typ != protowire.BytesType {
			m := protowire.ConsumeFieldValue(num, typ, list)
			if m < 0 {
				return "", fmt.Errorf("the list: %w", protowire.ParseError(m))
			}
			list = list[m:]
			continue
		}
		v, m := protowire.ConsumeBytes(list)
		if m < 0 {
			return "", fmt.Errorf("the list: %w", protowire.ParseError(m))
		}
		list = list[m:]
		switch num {
		case 1: // ListMeta: continue = 3
			c, err := bytesField(v, 3)
			if err != nil {
				return "", fmt.Errorf("the list's metadata: %w", err)
			}
			next = string(c)
		case 2:
			if err := fn(v); err != nil {
				return "", err
			}
		}
	}
	return next, nil
}

// bytesField returns the last value of field num (length-delimited) in a
// message, or nil.
func bytesField(msg []byte, num protowire.Number) ([]byte, error) {
	var out []byte
	for len(msg) > 0 {
		n, typ, l := protowire.ConsumeTag(msg)
		if l < 0 {
			return nil, protowire.ParseError(l)
		}
		msg = msg[l:]
		m := protowire.ConsumeFieldValue(n, typ, msg)
		if m < 0 {
			return nil, protowire.ParseError(m)
		}
		if n == num && typ == protowire.BytesType {
			out, _ = protowire.ConsumeBytes(msg[:m])
		}
		msg = msg[m:]
	}
	return out, nil
}

// addDecoded decodes a whole list body in whatever encoding the server
// chose and adds its items.
func addDecoded[P runtime.Object](c *model.Cluster, body []byte, drop func(P) bool) (string, error) {
	obj, _, err := kube.Codecs().UniversalDeserializer().Decode(body, nil, nil)
	if err != nil {
		return "", err
	}
	err = apimeta.EachListItem(obj, func(o runtime.Object) error {
		if p, ok := o.(P); ok && drop != nil && drop(p) {
			return nil
		}
		return addObject(c, o)
	})
	if err != nil {
		return "", err
	}
	l, err := apimeta.ListAccessor(obj)
	if err != nil {
		return "", err
	}
	return l.GetContinue(), nil
}
