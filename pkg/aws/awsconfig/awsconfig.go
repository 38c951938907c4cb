// Package awsconfig loads the AWS configuration the plugin's AWS calls use:
// the SDK's standard chain (environment, shared config and credentials
// files, SSO, web identity, container and instance roles), an optional
// profile, and any endpoint override the SDK honours (AWS_ENDPOINT_URL…).
//
// The SDK's own log lines (a retry, the fall-back from IMDSv2 to IMDSv1, a
// response it cannot read) go through the plugin's logging, never straight
// to the terminal: by default the SDK writes them to os.Stderr, where they
// would land between the plugin's own output unasked. They go to the writer
// SetLog names, which the plugin's -v sets; without it, nowhere.
package awsconfig

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/smithy-go/logging"
)

// Load returns the configuration of profile ("" for the chain's default)
// once credentials were found in it. The error says why not, in words, and
// never holds a credential.
func Load(ctx context.Context, profile string) (aws.Config, error) {
	opts := []func(*config.LoadOptions) error{
		config.WithLogger(Logger{}),
		// Retries only: the request and response modes would log the
		// Authorization and X-Amz-Security-Token headers, and STS's and
		// SSO's answers, which are credentials.
		config.WithClientLogMode(aws.LogRetries),
	}
	if profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(profile))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	var noProfile config.SharedConfigProfileNotExistError
	switch {
	case errors.As(err, &noProfile):
		return aws.Config{}, fmt.Errorf("AWS profile %q is in neither %s nor %s (`aws configure list-profiles` lists the profiles there)",
			noProfile.Profile, fileOr("AWS_CONFIG_FILE", config.DefaultSharedConfigFilename()), fileOr("AWS_SHARED_CREDENTIALS_FILE", config.DefaultSharedCredentialsFilename()))
	case err != nil:
		return aws.Config{}, fmt.Errorf("loading the AWS configuration: %s", Redact(err.Error()))
	}
	if cfg.Credentials == nil {
		return aws.Config{}, noCredentials(profile, errors.New("the SDK found no credential provider"))
	}
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		if ctx.Err() != nil {
			return aws.Config{}, fmt.Errorf("no AWS credentials before the deadline: %w", ctx.Err())
		}
		return aws.Config{}, noCredentials(profile, err)
	}
	return cfg, nil
}

// NoCredentialsError is the standard chain finding nothing usable. Its
// message says in one line where the chain looked and how to give it
// credentials; the SDK's own reason, without anything that looks like a
// key, is in Reason and goes to the log.
type NoCredentialsError struct {
	Profile string
	Reason  string
}

func (e *NoCredentialsError) Error() string {
	profile := e.Profile
	how := "--aws-profile NAME"
	if profile == "" {
		profile = os.Getenv("AWS_PROFILE")
		if profile == "" {
			profile = "default"
		}
	} else {
		how = "a working profile " + e.Profile
	}
	imds := "the EC2 instance role"
	if strings.EqualFold(os.Getenv("AWS_EC2_METADATA_DISABLED"), "true") {
		imds += " (off: AWS_EC2_METADATA_DISABLED=true)"
	}
	return fmt.Sprintf("no usable AWS credentials: the SDK's chain looked in the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY), "+
		"profile %q of %s and %s (static keys, SSO, assume-role, credential_process), web identity (AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ROLE_ARN), "+
		"the container role (ECS, EKS Pod Identity) and %s; give it credentials with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "+
		"or %s (made with `aws configure` or `aws configure sso`, then `aws sso login`), or run where an IAM role is attached",
		profile, fileOr("AWS_CONFIG_FILE", config.DefaultSharedConfigFilename()), fileOr("AWS_SHARED_CREDENTIALS_FILE", config.DefaultSharedCredentialsFilename()), imds, how)
}

func noCredentials(profile string, err error) error {
	e := &NoCredentialsError{Profile: profile, Reason: Redact(err.Error())}
	Logger{}.Logf(logging.Debug, "the credential chain's reason: %s", e.Reason)
	return e
}

func fileOr(env, def string) string {
	if v := os.Getenv(env); v != "" {
		return v
	}
	return def
}

var (
	logMu  sync.Mutex
	logOut io.Writer
)

// SetLog sends the SDK's own log lines to w, nil for nowhere (the default).
// The plugin's -v sets it to its log on stderr; this package knows nothing
// of verbosity levels.
func SetLog(w io.Writer) {
	logMu.Lock()
	defer logMu.Unlock()
	logOut = w
}

// Logger is the SDK's logger for every configuration Load makes: it writes
// to what SetLog named, each line marked as the SDK's and passed through
// Redact.
type Logger struct{}

// Logf writes one SDK log line.
func (Logger) Logf(c logging.Classification, format string, v ...any) {
	logMu.Lock()
	defer logMu.Unlock()
	if logOut == nil {
		return
	}
	// One line per entry: the SDK's own can span several.
	line := strings.Join(strings.Fields(fmt.Sprintf(format, v...)), " ")
	fmt.Fprintf(logOut, "aws-sdk %s: %s\n", strings.ToLower(string(c)), Redact(line))
}

// What Redact removes: AWS access key IDs, and long runs of base64 that
// mix upper case, lower case and digits (secret keys, session tokens, SSO
// tokens). Paths, ARNs and URLs have separators these runs do not.
var (
	accessKeyID = regexp.MustCompile(`\b(?:AKIA|ASIA|AROA|AIDA)[A-Z0-9]{12,}\b`)
	tokenLike   = regexp.MustCompile(`[A-Za-z0-9/+=]{20,}`)
)

// Redact replaces anything in s that looks like a credential with
// "[redacted]": the SDK's errors and log lines are shown to the user, and
// one from a broken credential_process or a mangled file could quote one.
func Redact(s string) string {
	s = accessKeyID.ReplaceAllString(s, "[redacted]")
	return tokenLike.ReplaceAllStringFunc(s, func(m string) string {
		if strings.ContainsAny(m, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") && strings.ContainsAny(m, "abcdefghijklmnopqrstuvwxyz") && strings.ContainsAny(m, "0123456789") {
			return "[redacted]"
		}
		return m
	})
}
