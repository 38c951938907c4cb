package network

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/smithy-go"
)

// denied are the error codes AWS services answer a call the credentials may
// not make with (EC2 says UnauthorizedOperation, the JSON and query services
// AccessDenied or AccessDeniedException).
var denied = map[string]bool{
	"AccessDenied": true, "AccessDeniedException": true, "UnauthorizedOperation": true,
	"UnauthorizedAccess": true,
}

// throttled are the codes of a call refused for its rate; the SDK's
// retryer retries them, so one reaching here outlasted every attempt.
var throttled = map[string]bool{
	"Throttling": true, "ThrottlingException": true, "RequestLimitExceeded": true,
	"TooManyRequestsException": true, "RequestThrottled": true,
}

// Describe turns a failed call into the reason recorded on the fleet: it
// names the IAM action and what went wrong in words a person can act on,
// with the service's own error code. AWS error messages carry no secret
// (they may name the caller's ARN, which is not one).
func Describe(action string, err error) string {
	var api smithy.APIError
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return fmt.Sprintf("%s did not answer before the run's deadline", action)
	case errors.As(err, &api) && denied[api.ErrorCode()]:
		return fmt.Sprintf("%s was denied (%s): the credentials need the IAM action %s", action, api.ErrorCode(), action)
	case errors.As(err, &api) && throttled[api.ErrorCode()]:
		return fmt.Sprintf("%s was throttled (%s) on every attempt", action, api.ErrorCode())
	case errors.As(err, &api):
		return fmt.Sprintf("%s failed: %s: %s", action, api.ErrorCode(), api.ErrorMessage())
	}
	return fmt.Sprintf("%s failed: %v", action, err)
}

// IsDenied reports whether err is AWS refusing the call for lack of permission.
func IsDenied(err error) bool {
	var api smithy.APIError
	return errors.As(err, &api) && denied[api.ErrorCode()]
}
