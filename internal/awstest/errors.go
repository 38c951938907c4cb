package awstest

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"net/http"
)

// Error is an AWS error: an HTTP status, the error code the SDK maps to its
// typed errors, and a message.
type Error struct {
	Status  int
	Code    string
	Message string
}

// NewError is an *Error.
func NewError(status int, code, message string) *Error {
	return &Error{Status: status, Code: code, Message: message}
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// writeError renders err in the service protocol's error shape:
//   - rpcv2Cbor: {"__type","message"} in CBOR;
//   - awsJson1_1: X-Amzn-ErrorType header and {"__type","message"} body;
//   - restJson1: X-Amzn-ErrorType header and {"message"} body;
//   - ec2Query: <Response><Errors><Error><Code/><Message/></Error></Errors><RequestID/></Response>;
//   - awsQuery: <ErrorResponse><Error><Type/><Code/><Message/></Error><RequestId/></ErrorResponse>.
func writeError(w http.ResponseWriter, c *Call, reqID string, err error) {
	svc := c.Service
	var ae *authError
	if errors.As(err, &ae) {
		err = authErrorFor(svc, ae)
	}
	var e *Error
	if !errors.As(err, &e) {
		e = NewError(http.StatusInternalServerError, "InternalFailure", err.Error())
	}
	h := w.Header()
	switch c.Protocol {
	case RPCv2CBOR:
		h.Set(rpcv2Header, "rpc-v2-cbor")
		h.Set("Content-Type", "application/cbor")
		w.WriteHeader(e.Status)
		_, _ = w.Write(encodeCBOR(map[string]string{"__type": e.Code, "message": e.Message}))
	case AWSJSON11, RESTJSON:
		h.Set("X-Amzn-Errortype", e.Code)
		body := map[string]string{"message": e.Message}
		if svc.Protocol == AWSJSON11 {
			h.Set("Content-Type", "application/x-amz-json-1.1")
			body["__type"] = e.Code
		} else {
			h.Set("Content-Type", "application/json")
		}
		w.WriteHeader(e.Status)
		_ = json.NewEncoder(w).Encode(body)
	case EC2Query:
		type ec2Error struct {
			Code    string `xml:"Code"`
			Message string `xml:"Message"`
		}
		type ec2Response struct {
			XMLName   xml.Name   `xml:"Response"`
			Errors    []ec2Error `xml:"Errors>Error"`
			RequestID string     `xml:"RequestID"`
		}
		h.Set("Content-Type", "text/xml;charset=UTF-8")
		w.WriteHeader(e.Status)
		_, _ = w.Write([]byte(xml.Header))
		_ = xml.NewEncoder(w).Encode(ec2Response{Errors: []ec2Error{{e.Code, e.Message}}, RequestID: reqID})
	case AWSQuery:
		type queryError struct {
			Type    string `xml:"Type"`
			Code    string `xml:"Code"`
			Message string `xml:"Message"`
		}
		type queryResponse struct {
			XMLName   xml.Name   `xml:"ErrorResponse"`
			Xmlns     string     `xml:"xmlns,attr"`
			Error     queryError `xml:"Error"`
			RequestID string     `xml:"RequestId"`
		}
		typ := "Sender"
		if e.Status >= 500 {
			typ = "Receiver"
		}
		h.Set("Content-Type", "text/xml")
		w.WriteHeader(e.Status)
		_, _ = w.Write([]byte(xml.Header))
		_ = xml.NewEncoder(w).Encode(queryResponse{Xmlns: svc.XMLNamespace, Error: queryError{typ, e.Code, e.Message}, RequestID: reqID})
	}
}
