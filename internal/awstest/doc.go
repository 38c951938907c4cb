// Package awstest is a local AWS endpoint for tests: the real aws-sdk-go-v2
// clients talk HTTP(S) to it, so their serialization, SigV4 signing, retries,
// waiters and typed errors run exactly as they do against AWS.
//
// One Server speaks every registered service on one URL. A request is routed
// by the service named in its SigV4 credential scope (acm-pca, ec2,
// elasticloadbalancing, eks), then by that service's wire protocol:
//
//   - awsJson1_1 (ACM-PCA): X-Amz-Target "ACMPrivateCA.<Action>", JSON body.
//   - ec2Query (EC2): form body Action=<Action>; XML "<ActionResponse>".
//   - awsQuery (ELBv2): form body Action=<Action>; XML
//     "<ActionResponse><ActionResult>…</ActionResult><ResponseMetadata>".
//   - restJson1 (EKS): method and path matched against the service's Routes.
//
// Every request's signature is recomputed with the SDK's own v4 signer from
// the server's known test credentials; a wrong key, an unknown access key, a
// stale X-Amz-Date or a missing signature is answered with the error code and
// status the real service uses for it (see sigv4.go). Errors go out in each
// protocol's real error shape (see errors.go), so the SDK parses them into
// its typed errors (*types.RequestInProgressException, smithy.APIError with
// ErrorCode "UnauthorizedOperation", …).
//
// Faults are per action: Throttle(service, action, n) answers the next n
// calls with the service's own throttling error (ThrottlingException,
// RequestLimitExceeded, Throttling), which the SDK's retryer retries; Deny
// answers every call with its access-denied error (AccessDeniedException,
// UnauthorizedOperation, AccessDenied) until Allow.
//
// # Pointing a client at the server
//
// In process: aws.Config from Server.Config (static test credentials, the
// server as BaseEndpoint, a client that trusts its TLS certificate). For a
// separate process (the plugin binary in e2e tests): Server.Env, the
// AWS_ENDPOINT_URL / AWS_ACCESS_KEY_ID / AWS_CA_BUNDLE / … variables that
// config.LoadDefaultConfig honours.
//
// # Adding a service
//
// Put the service in its own file (ec2.go, elbv2.go, eks.go): a constructor
// returning a *Service with its SigningName, Protocol, the protocol's
// namespace (TargetPrefix for awsJson, XMLNamespace for the query protocols),
// Routes for restJson1, and Actions: a Handler per action name, exactly as the
// SDK's operation is named ("DescribeVpcs"). Register it in New (or let tests
// call Server.Register). A Handler receives the decoded Call (Decode for
// JSON bodies, Form for query parameters, PathParams for REST) and returns
// the output value or an *Error (see NewError and the per-protocol helpers).
// Output values are marshalled per protocol: encoding/json for the JSON
// protocols (timestamps as epoch seconds: use EpochSeconds), encoding/xml
// for the query protocols (the Server wraps the value into the Response /
// Result elements; field names are the wire names, e.g. EC2's lowerCamel
// "vpcSet>item"). Keep the fake's state behind the service's own mutex, and
// put its fault codes in the Service (ThrottleCode/DenyCode and statuses) so
// Throttle and Deny speak that service's dialect.
package awstest
