package awstest

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strings"
	"time"

	"github.com/aws/smithy-go/encoding/cbor"
)

// Smithy RPC v2 CBOR: since late 2026 the SDK's ACM-PCA client prefers it to
// awsJson1_1 (POST /service/<Service>/operation/<Action>, Smithy-Protocol:
// rpc-v2-cbor, CBOR bodies, errors as {"__type","message"}). A service that
// speaks awsJson1_1 here speaks it too, so handlers are written once: the
// request is bridged to JSON for Call.Decode, and the output value is
// converted to CBOR by reflection (timestamps as epoch tags, blobs as byte
// strings, as the protocol wants).

const rpcv2Header = "Smithy-Protocol"

// cborToJSON re-encodes a CBOR request body as JSON (blobs become base64
// strings, which encoding/json decodes back into []byte fields).
func cborToJSON(body []byte) ([]byte, error) {
	if len(body) == 0 {
		return nil, nil
	}
	v, err := cbor.Decode(body)
	if err != nil {
		return nil, err
	}
	return json.Marshal(cborToGo(v))
}

func cborToGo(v cbor.Value) any {
	switch v := v.(type) {
	case cbor.Map:
		m := make(map[string]any, len(v))
		for k, e := range v {
			m[k] = cborToGo(e)
		}
		return m
	case cbor.List:
		l := make([]any, len(v))
		for i, e := range v {
			l[i] = cborToGo(e)
		}
		return l
	case cbor.String:
		return string(v)
	case cbor.Slice:
		return []byte(v)
	case cbor.Uint:
		return uint64(v)
	case cbor.NegInt:
		return -int64(v)
	case cbor.Float32:
		return float64(v)
	case cbor.Float64:
		return float64(v)
	case cbor.Bool:
		return bool(v)
	case *cbor.Tag:
		return cborToGo(v.Value)
	}
	return nil
}

var (
	epochType = reflect.TypeOf(EpochSeconds{})
	timeType  = reflect.TypeOf(time.Time{})
)

// goToCBOR converts an output value to CBOR, naming struct fields as
// encoding/json would (json tags, omitempty).
func goToCBOR(v reflect.Value) (cbor.Value, bool) {
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return nil, false
		}
		v = v.Elem()
	}
	switch v.Type() {
	case epochType:
		return epochTag(time.Time(v.Interface().(EpochSeconds))), true
	case timeType:
		return epochTag(v.Interface().(time.Time)), true
	}
	switch v.Kind() {
	case reflect.Struct:
		m := cbor.Map{}
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			fv := v.Field(i)
			if strings.Contains(opts, "omitempty") && fv.IsZero() {
				continue
			}
			if e, ok := goToCBOR(fv); ok {
				m[name] = e
			}
		}
		return m, true
	case reflect.Map:
		m := cbor.Map{}
		it := v.MapRange()
		for it.Next() {
			if e, ok := goToCBOR(it.Value()); ok {
				m[fmt.Sprint(it.Key().Interface())] = e
			}
		}
		return m, true
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return cbor.Slice(v.Bytes()), true
		}
		if v.IsNil() {
			return nil, false
		}
		fallthrough
	case reflect.Array:
		l := make(cbor.List, 0, v.Len())
		for i := 0; i < v.Len(); i++ {
			if e, ok := goToCBOR(v.Index(i)); ok {
				l = append(l, e)
			}
		}
		return l, true
	case reflect.String:
		return cbor.String(v.String()), true
	case reflect.Bool:
		return cbor.Bool(v.Bool()), true
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if n := v.Int(); n < 0 {
			return cbor.NegInt(uint64(-n)), true
		}
		return cbor.Uint(uint64(v.Int())), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return cbor.Uint(v.Uint()), true
	case reflect.Float32, reflect.Float64:
		return cbor.Float64(v.Float()), true
	}
	return nil, false
}

func epochTag(t time.Time) cbor.Value {
	return &cbor.Tag{ID: 1, Value: cbor.Float64(math.Round(float64(t.UnixMilli())) / 1000)}
}

// encodeCBOR is an output value as a CBOR body.
func encodeCBOR(out any) []byte {
	v, ok := goToCBOR(reflect.ValueOf(out))
	if !ok {
		v = cbor.Map{}
	}
	return cbor.Encode(v)
}
