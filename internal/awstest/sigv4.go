package awstest

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

const (
	sigAlgorithm = "AWS4-HMAC-SHA256"
	amzDate      = "20060102T150405Z"
	// maxSkew is how far X-Amz-Date may be from the server's clock; AWS's
	// "Signature expired: … (… - 5 min.)" names the same bound.
	maxSkew = 5 * time.Minute
)

// scope is what the Authorization header claims.
type scope struct {
	accessKey, date, region, service string
	signedHeaders, signature         string
}

// authKind is what is wrong with a request's authentication, answered per
// protocol in the service's own words (authError).
type authKind int

const (
	authMissing authKind = iota
	authUnknownKey
	authBadSignature
	authExpired
)

// parseScope reads the Authorization header. The service is read even from
// a header that fails later checks, so the error can be given in that
// service's dialect.
func parseScope(r *http.Request) (scope, error) {
	var sc scope
	h := r.Header.Get("Authorization")
	if !strings.HasPrefix(h, sigAlgorithm+" ") {
		sc.service = serviceFromHost(r)
		return sc, authFailure(authMissing, "")
	}
	for _, part := range strings.Split(strings.TrimPrefix(h, sigAlgorithm+" "), ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "Credential":
			f := strings.Split(v, "/")
			if len(f) == 5 && f[4] == "aws4_request" {
				sc.accessKey, sc.date, sc.region, sc.service = f[0], f[1], f[2], f[3]
			}
		case "SignedHeaders":
			sc.signedHeaders = v
		case "Signature":
			sc.signature = v
		}
	}
	if sc.accessKey == "" || sc.signedHeaders == "" || sc.signature == "" {
		return sc, authFailure(authMissing, "")
	}
	return sc, nil
}

// serviceFromHost lets an unsigned request still be answered in a service's
// dialect when a test names the service in the Host ("acm-pca.localhost").
func serviceFromHost(r *http.Request) string {
	host, _, _ := strings.Cut(r.Host, ".")
	return host
}

// verify recomputes the request's signature with the SDK's v4 signer from
// the server's secret key, over the headers the client said it signed.
func (s *Server) verify(r *http.Request, body []byte, sc scope, now time.Time) error {
	if sc.accessKey != s.accessKey {
		return authFailure(authUnknownKey, "")
	}
	signedAt, err := time.Parse(amzDate, r.Header.Get("X-Amz-Date"))
	if err != nil {
		return authFailure(authMissing, "")
	}
	if signedAt.Format("20060102") != sc.date {
		return authFailure(authBadSignature, "")
	}
	if d := now.Sub(signedAt); d > maxSkew || d < -maxSkew {
		return authFailure(authExpired, fmt.Sprintf("Signature expired: %s is now earlier than %s (%s - 5 min.)",
			signedAt.UTC().Format(amzDate), now.Add(-maxSkew).UTC().Format(amzDate), now.UTC().Format(amzDate)))
	}

	u, err := url.Parse("http://" + r.Host + r.RequestURI)
	if err != nil {
		return authFailure(authBadSignature, "")
	}
	again, err := http.NewRequest(r.Method, u.String(), nil)
	if err != nil {
		return authFailure(authBadSignature, "")
	}
	again.Host = r.Host
	again.ContentLength = int64(len(body))
	for _, name := range strings.Split(sc.signedHeaders, ";") {
		if name == "host" || name == "content-length" {
			continue
		}
		for _, v := range r.Header.Values(name) {
			again.Header.Add(name, v)
		}
	}
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: s.accessKey, SecretAccessKey: s.secretKey, SessionToken: r.Header.Get("X-Amz-Security-Token")}
	signer := v4.NewSigner()
	if err := signer.SignHTTP(context.Background(), creds, again, hex.EncodeToString(sum[:]), sc.service, sc.region, signedAt); err != nil {
		return authFailure(authBadSignature, "")
	}
	want, _ := parseScope(again)
	if want.signedHeaders != sc.signedHeaders || subtle.ConstantTimeCompare([]byte(want.signature), []byte(sc.signature)) != 1 {
		return authFailure(authBadSignature, "")
	}
	return nil
}

// authError carries the kind until the service's dialect is known.
type authError struct {
	kind    authKind
	message string
}

func (e *authError) Error() string { return e.message }

func authFailure(kind authKind, message string) error {
	return &authError{kind: kind, message: message}
}

// authErrorFor spells an authentication failure as the service does.
func authErrorFor(svc *Service, e *authError) *Error {
	const badSig = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
	const badToken = "The security token included in the request is invalid."
	switch svc.Protocol {
	case EC2Query:
		switch e.kind {
		case authExpired:
			return NewError(400, "RequestExpired", "Request has expired. "+e.message)
		case authMissing:
			return NewError(401, "AuthFailure", "AWS was not able to validate the provided access credentials")
		default:
			return NewError(401, "AuthFailure", "AWS was not able to validate the provided access credentials")
		}
	case AWSQuery:
		switch e.kind {
		case authExpired:
			return NewError(403, "SignatureDoesNotMatch", e.message)
		case authMissing:
			return NewError(403, "MissingAuthenticationToken", "Request is missing Authentication Token")
		case authUnknownKey:
			return NewError(403, "InvalidClientTokenId", badToken)
		default:
			return NewError(403, "SignatureDoesNotMatch", badSig)
		}
	default: // the JSON protocols
		status := 400
		if svc.Protocol == RESTJSON {
			status = 403
		}
		switch e.kind {
		case authExpired:
			return NewError(status, "InvalidSignatureException", e.message)
		case authMissing:
			return NewError(status, "MissingAuthenticationTokenException", "Missing Authentication Token")
		case authUnknownKey:
			return NewError(status, "UnrecognizedClientException", badToken)
		default:
			return NewError(status, "InvalidSignatureException", badSig)
		}
	}
}
