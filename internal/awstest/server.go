package awstest

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Protocol is a service's wire protocol.
type Protocol int

const (
	// AWSJSON11 is awsJson1_1: POST /, X-Amz-Target "<prefix>.<Action>".
	AWSJSON11 Protocol = iota
	// EC2Query is EC2's query dialect: form Action=…, XML without a Result wrapper.
	EC2Query
	// AWSQuery is the query protocol of ELBv2, STS, …: XML with a <ActionResult> wrapper.
	AWSQuery
	// RESTJSON is restJson1: the action is in the method and path.
	RESTJSON
	// RPCv2CBOR is Smithy RPC v2 CBOR, spoken by every AWSJSON11 service
	// here as well (see cbor.go); it is a request's protocol, never a
	// Service's.
	RPCv2CBOR
)

// Signing names of the services the plugin calls.
const (
	ServicePCA   = "acm-pca"
	ServiceEC2   = "ec2"
	ServiceELBv2 = "elasticloadbalancing"
	ServiceEKS   = "eks"
)

// Handler answers one action. It returns the output value (marshalled by the
// service's protocol) or an error; an *Error keeps its code and status, any
// other error becomes an InternalFailure.
type Handler func(c *Call) (any, error)

// Route maps a REST method and path pattern ("/clusters/{name}") to an action.
type Route struct {
	Method, Path, Action string
}

// Service is one AWS service the Server speaks.
type Service struct {
	SigningName  string
	Protocol     Protocol
	TargetPrefix string // awsJson: "ACMPrivateCA"
	XMLNamespace string // query protocols: the response's xmlns
	Routes       []Route
	Actions      map[string]Handler

	// ThrottleCode/DenyCode are the codes this service answers a throttled
	// or denied call with, at the given HTTP statuses.
	ThrottleCode   string
	ThrottleStatus int
	DenyCode       string
	DenyStatus     int
}

// Call is one decoded request.
type Call struct {
	Service     *Service
	Protocol    Protocol // the request's: the Service's, or RPCv2CBOR
	Action      string
	Region      string
	AccessKeyID string
	Body        []byte
	Form        url.Values        // query protocols: the form parameters
	PathParams  map[string]string // restJson1: the pattern's {names}
	Query       url.Values        // restJson1: the URL's query
	Now         time.Time         // the server's clock at the request
}

// Decode unmarshals a JSON request body.
func (c *Call) Decode(v any) error {
	if len(c.Body) == 0 {
		return nil
	}
	if err := json.Unmarshal(c.Body, v); err != nil {
		return NewError(400, "SerializationException", "cannot read the request body: "+err.Error())
	}
	return nil
}

// Credentials the server accepts; Server.Config and Server.Env hand them out.
const (
	TestAccessKeyID     = "AKIAMESHFEDTEST00001"
	TestSecretAccessKey = "meshfed/awstest/secret/key/0000000000000"
	TestAccountID       = "111122223333"
)

// Server is a local AWS endpoint. Create it with New, register services,
// Start it, and Close it when done.
type Server struct {
	// Region is what Config and Env hand out; requests for any region are served.
	Region string
	// Now is the server's clock; tests move it to make requests look stale.
	Now func() time.Time

	PCA *PCA

	http      *httptest.Server
	accessKey string
	secretKey string
	caFile    string

	mu       sync.Mutex
	services map[string]*Service
	faults   map[string]*fault
	calls    map[string]int
	reqID    int
	badDate  bool
}

type fault struct {
	throttle int
	deny     bool
}

// New is an unstarted server with test credentials and ACM-PCA registered.
func New() *Server {
	s := &Server{
		Region:    "us-east-1",
		Now:       time.Now,
		accessKey: TestAccessKeyID,
		secretKey: TestSecretAccessKey,
		services:  map[string]*Service{},
		faults:    map[string]*fault{},
		calls:     map[string]int{},
	}
	s.PCA = NewPCA(s)
	s.Register(s.PCA.Service())
	return s
}

// Register adds a service (replacing one of the same signing name).
func (s *Server) Register(svc *Service) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.services[svc.SigningName] = svc
}

// Start serves plain HTTP on loopback.
func (s *Server) Start() {
	s.http = httptest.NewServer(s)
}

// StartTLS serves HTTPS on loopback with a fresh certificate; Config and Env
// make clients trust it.
func (s *Server) StartTLS() error {
	s.http = httptest.NewUnstartedServer(s)
	s.http.StartTLS()
	dir, err := os.MkdirTemp("", "awstest-")
	if err != nil {
		return err
	}
	s.caFile = filepath.Join(dir, "ca.pem")
	cert := s.http.Certificate()
	return os.WriteFile(s.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o644)
}

// Close stops the server and removes its files.
func (s *Server) Close() {
	if s.http != nil {
		s.http.Close()
	}
	if s.caFile != "" {
		_ = os.RemoveAll(filepath.Dir(s.caFile))
	}
}

// URL is the server's base URL.
func (s *Server) URL() string { return s.http.URL }

// Config is an aws.Config for in-process clients: the server as endpoint,
// its test credentials, and its TLS certificate trusted.
func (s *Server) Config() aws.Config {
	cfg := aws.Config{
		Region:       s.Region,
		Credentials:  credentials.NewStaticCredentialsProvider(s.accessKey, s.secretKey, ""),
		BaseEndpoint: aws.String(s.http.URL),
		HTTPClient:   s.http.Client(),
	}
	return cfg
}

// Env is the environment a separate process needs for
// config.LoadDefaultConfig to reach this server with its test credentials
// (and nothing from the user's own AWS files).
func (s *Server) Env() []string {
	env := []string{
		"AWS_ENDPOINT_URL=" + s.http.URL,
		"AWS_ACCESS_KEY_ID=" + s.accessKey,
		"AWS_SECRET_ACCESS_KEY=" + s.secretKey,
		"AWS_REGION=" + s.Region,
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=" + os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE=" + os.DevNull,
	}
	if s.caFile != "" {
		env = append(env, "AWS_CA_BUNDLE="+s.caFile)
	}
	return env
}

// CertPool trusts the server's TLS certificate (nil when serving HTTP).
func (s *Server) CertPool() *x509.CertPool {
	if s.http == nil || s.http.TLS == nil {
		return nil
	}
	p := x509.NewCertPool()
	p.AddCert(s.http.Certificate())
	return p
}

// BadDate makes every answer carry a Date header no HTTP date parser
// reads, as a broken proxy might send; the SDK logs a warning for each at
// its default settings, which is how tests see where its own log lines go.
func (s *Server) BadDate(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.badDate = on
}

// Throttle answers the next n calls of service/action with the service's
// throttling error.
func (s *Server) Throttle(service, action string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faultFor(service, action).throttle = n
}

// Deny answers every call of service/action with the service's access-denied
// error until Allow.
func (s *Server) Deny(service, action string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faultFor(service, action).deny = true
}

// Allow ends Deny.
func (s *Server) Allow(service, action string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faultFor(service, action).deny = false
}

// Calls is how many signed calls of service/action reached the server
// (answered or faulted).
func (s *Server) Calls(service, action string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[service+":"+action]
}

// Called lists "service:Action" of every action called at least once, sorted.
func (s *Server) Called() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for k := range s.calls {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (s *Server) faultFor(service, action string) *fault {
	k := service + ":" + action
	f := s.faults[k]
	if f == nil {
		f = &fault{}
		s.faults[k] = f
	}
	return f
}

// ServeHTTP verifies the signature, finds the service and action, applies
// faults and runs the handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := s.Now()
	s.mu.Lock()
	s.reqID++
	reqID := fmt.Sprintf("awstest-%08d", s.reqID)
	badDate := s.badDate
	s.mu.Unlock()
	w.Header().Set("X-Amzn-Requestid", reqID)
	w.Header().Set("Date", now.UTC().Format(http.TimeFormat))
	if badDate {
		w.Header().Set("Date", "not a date")
	}

	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	scope, sigErr := parseScope(r)
	s.mu.Lock()
	svc := s.services[scope.service]
	s.mu.Unlock()
	if svc == nil {
		// Without a known service there is no dialect to answer in; plain
		// text is what an unknown endpoint gives as well.
		http.Error(w, fmt.Sprintf("awstest: no service %q (credential scope of %q)", scope.service, r.Header.Get("Authorization")), http.StatusNotFound)
		return
	}
	if sigErr == nil {
		sigErr = s.verify(r, body, scope, now)
	}
	call := &Call{Service: svc, Protocol: svc.Protocol, Region: scope.region, AccessKeyID: scope.accessKey, Body: body, Now: now}
	if svc.Protocol == AWSJSON11 && r.Header.Get(rpcv2Header) == "rpc-v2-cbor" {
		call.Protocol = RPCv2CBOR
	}
	if sigErr != nil {
		writeError(w, call, reqID, sigErr)
		return
	}
	if err := route(svc, r, call); err != nil {
		writeError(w, call, reqID, err)
		return
	}

	s.mu.Lock()
	s.calls[svc.SigningName+":"+call.Action]++
	f := s.faults[svc.SigningName+":"+call.Action]
	var faultErr error
	switch {
	case f != nil && f.deny:
		faultErr = NewError(svc.DenyStatus, svc.DenyCode, deniedMessage(svc, call.Action))
	case f != nil && f.throttle > 0:
		f.throttle--
		faultErr = NewError(svc.ThrottleStatus, svc.ThrottleCode, "Rate exceeded")
	}
	s.mu.Unlock()
	if faultErr != nil {
		writeError(w, call, reqID, faultErr)
		return
	}

	h := svc.Actions[call.Action]
	if h == nil {
		writeError(w, call, reqID, unknownAction(svc, call.Action))
		return
	}
	out, err := h(call)
	if err != nil {
		writeError(w, call, reqID, err)
		return
	}
	writeOutput(w, call, reqID, out)
}

// deniedMessage reads like AWS's: it names the principal and the IAM action.
func deniedMessage(svc *Service, action string) string {
	return fmt.Sprintf("User: arn:aws:iam::%s:user/awstest is not authorized to perform: %s:%s because no identity-based policy allows the %s:%s action",
		TestAccountID, iamPrefix(svc), action, iamPrefix(svc), action)
}

// iamPrefix is the IAM namespace of a service's actions.
func iamPrefix(svc *Service) string {
	if svc.SigningName == ServiceELBv2 {
		return "elasticloadbalancing"
	}
	return svc.SigningName
}

func unknownAction(svc *Service, action string) error {
	switch svc.Protocol {
	case EC2Query:
		return NewError(400, "InvalidAction", fmt.Sprintf("The action %s is not valid for this web service.", action))
	case AWSQuery:
		return NewError(400, "InvalidAction", fmt.Sprintf("Could not find operation %s for version", action))
	default:
		return NewError(400, "UnknownOperationException", "awstest: no handler for "+action)
	}
}

// route finds the action of a request in its service's protocol.
func route(svc *Service, r *http.Request, c *Call) error {
	switch c.Protocol {
	case RPCv2CBOR:
		action, ok := strings.CutPrefix(r.URL.Path, "/service/"+svc.TargetPrefix+"/operation/")
		if r.Method != http.MethodPost || !ok || action == "" {
			return NewError(404, "UnknownOperationException", "")
		}
		c.Action = action
		body, err := cborToJSON(c.Body)
		if err != nil {
			return NewError(400, "SerializationException", "cannot read the CBOR body: "+err.Error())
		}
		c.Body = body
	case AWSJSON11:
		target := r.Header.Get("X-Amz-Target")
		prefix := svc.TargetPrefix + "."
		if r.Method != http.MethodPost || !strings.HasPrefix(target, prefix) {
			return NewError(400, "UnknownOperationException", "")
		}
		c.Action = strings.TrimPrefix(target, prefix)
	case EC2Query, AWSQuery:
		form, err := url.ParseQuery(string(c.Body))
		if err != nil || r.Method != http.MethodPost {
			return NewError(400, "MalformedQueryString", "the body is not a form")
		}
		c.Form = form
		c.Action = form.Get("Action")
		if c.Action == "" {
			return NewError(400, "MissingAction", "Action is required")
		}
	case RESTJSON:
		c.Query = r.URL.Query()
		for _, rt := range svc.Routes {
			if rt.Method != r.Method {
				continue
			}
			if params, ok := matchPath(rt.Path, r.URL.EscapedPath()); ok {
				c.Action, c.PathParams = rt.Action, params
				return nil
			}
		}
		return NewError(404, "UnknownOperationException", fmt.Sprintf("no route for %s %s", r.Method, r.URL.Path))
	}
	return nil
}

// matchPath matches "/clusters/{name}" against an escaped path.
func matchPath(pattern, path string) (map[string]string, bool) {
	ps := strings.Split(strings.Trim(pattern, "/"), "/")
	xs := strings.Split(strings.Trim(path, "/"), "/")
	if len(ps) != len(xs) {
		return nil, false
	}
	params := map[string]string{}
	for i, p := range ps {
		if strings.HasPrefix(p, "{") && strings.HasSuffix(p, "}") {
			v, err := url.PathUnescape(xs[i])
			if err != nil {
				return nil, false
			}
			params[strings.Trim(p, "{}")] = v
			continue
		}
		if p != xs[i] {
			return nil, false
		}
	}
	return params, true
}

// writeOutput marshals a handler's output in the service's protocol.
func writeOutput(w http.ResponseWriter, c *Call, reqID string, out any) {
	svc, action := c.Service, c.Action
	var buf bytes.Buffer
	switch c.Protocol {
	case RPCv2CBOR:
		buf.Write(encodeCBOR(out))
		w.Header().Set(rpcv2Header, "rpc-v2-cbor")
		w.Header().Set("Content-Type", "application/cbor")
	case AWSJSON11, RESTJSON:
		if out == nil {
			out = struct{}{}
		}
		if err := json.NewEncoder(&buf).Encode(out); err != nil {
			writeError(w, c, reqID, err)
			return
		}
		if svc.Protocol == AWSJSON11 {
			w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		} else {
			w.Header().Set("Content-Type", "application/json")
		}
	case EC2Query, AWSQuery:
		if err := encodeQueryResponse(&buf, svc, action, reqID, out); err != nil {
			writeError(w, c, reqID, err)
			return
		}
		w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
}

// encodeQueryResponse writes EC2's "<ActionResponse xmlns><requestId/>fields"
// or awsQuery's "<ActionResponse><ActionResult>fields</ActionResult>
// <ResponseMetadata><RequestId/></ResponseMetadata>".
func encodeQueryResponse(buf *bytes.Buffer, svc *Service, action, reqID string, out any) error {
	buf.WriteString(xml.Header)
	enc := xml.NewEncoder(buf)
	root := xml.StartElement{Name: xml.Name{Local: action + "Response"}, Attr: []xml.Attr{{Name: xml.Name{Local: "xmlns"}, Value: svc.XMLNamespace}}}
	if err := enc.EncodeToken(root); err != nil {
		return err
	}
	if svc.Protocol == EC2Query {
		if err := enc.EncodeElement(reqID, xml.StartElement{Name: xml.Name{Local: "requestId"}}); err != nil {
			return err
		}
		if out != nil {
			// The output's fields go straight under the root: encode it in a
			// scratch element and copy its children.
			if err := encodeChildren(enc, out); err != nil {
				return err
			}
		}
	} else {
		if out == nil {
			out = struct{}{}
		}
		if err := enc.EncodeElement(out, xml.StartElement{Name: xml.Name{Local: action + "Result"}}); err != nil {
			return err
		}
		meta := struct {
			RequestID string `xml:"RequestId"`
		}{reqID}
		if err := enc.EncodeElement(meta, xml.StartElement{Name: xml.Name{Local: "ResponseMetadata"}}); err != nil {
			return err
		}
	}
	if err := enc.EncodeToken(root.End()); err != nil {
		return err
	}
	return enc.Flush()
}

// encodeChildren writes the child elements of out's XML encoding, without
// out's own element.
func encodeChildren(enc *xml.Encoder, out any) error {
	var scratch bytes.Buffer
	if err := xml.NewEncoder(&scratch).EncodeElement(out, xml.StartElement{Name: xml.Name{Local: "x"}}); err != nil {
		return err
	}
	dec := xml.NewDecoder(&scratch)
	depth := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		switch tok.(type) {
		case xml.StartElement:
			depth++
			if depth == 1 {
				continue
			}
		case xml.EndElement:
			depth--
			if depth == 0 {
				continue
			}
		}
		if err := enc.EncodeToken(xml.CopyToken(tok)); err != nil {
			return err
		}
	}
}

// EpochSeconds is a timestamp as the JSON protocols send it by default.
type EpochSeconds time.Time

// MarshalJSON writes seconds since the epoch with millisecond precision.
func (t EpochSeconds) MarshalJSON() ([]byte, error) {
	return []byte(fmt.Sprintf("%.3f", float64(time.Time(t).UnixMilli())/1000)), nil
}
