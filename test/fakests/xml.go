package fakests

import (
	"encoding/xml"
	"net/http"
	"strconv"
)

type responseMetadata struct {
	RequestID string `xml:"RequestId"`
}

type xmlCredentials struct {
	AccessKeyID     string `xml:"AccessKeyId"`
	SecretAccessKey string `xml:"SecretAccessKey"`
	SessionToken    string `xml:"SessionToken"`
	Expiration      string `xml:"Expiration"`
}

func xmlCreds(ic *issuedCred) xmlCredentials {
	layout := "2006-01-02T15:04:05Z"
	if ic.info.Expires.Nanosecond() != 0 {
		layout = "2006-01-02T15:04:05.000Z"
	}
	return xmlCredentials{
		AccessKeyID:     ic.info.AccessKeyID,
		SecretAccessKey: ic.secret,
		SessionToken:    ic.token,
		Expiration:      ic.info.Expires.UTC().Format(layout),
	}
}

type assumeRoleResponse struct {
	XMLName xml.Name `xml:"https://sts.amazonaws.com/doc/2011-06-15/ AssumeRoleResponse"`
	Result  struct {
		Credentials     xmlCredentials `xml:"Credentials"`
		AssumedRoleUser struct {
			Arn           string `xml:"Arn"`
			AssumedRoleID string `xml:"AssumedRoleId"`
		} `xml:"AssumedRoleUser"`
	} `xml:"AssumeRoleResult"`
	Metadata responseMetadata `xml:"ResponseMetadata"`
}

type getSessionTokenResponse struct {
	XMLName xml.Name `xml:"https://sts.amazonaws.com/doc/2011-06-15/ GetSessionTokenResponse"`
	Result  struct {
		Credentials xmlCredentials `xml:"Credentials"`
	} `xml:"GetSessionTokenResult"`
	Metadata responseMetadata `xml:"ResponseMetadata"`
}

type getAccessKeyInfoResponse struct {
	XMLName xml.Name `xml:"https://sts.amazonaws.com/doc/2011-06-15/ GetAccessKeyInfoResponse"`
	Result  struct {
		Account string `xml:"Account"`
	} `xml:"GetAccessKeyInfoResult"`
	Metadata responseMetadata `xml:"ResponseMetadata"`
}

type getCallerIdentityResponse struct {
	XMLName xml.Name `xml:"https://sts.amazonaws.com/doc/2011-06-15/ GetCallerIdentityResponse"`
	Result  struct {
		Arn     string `xml:"Arn"`
		UserID  string `xml:"UserId"`
		Account string `xml:"Account"`
	} `xml:"GetCallerIdentityResult"`
	Metadata responseMetadata `xml:"ResponseMetadata"`
}

type errorResponse struct {
	XMLName xml.Name // set per API: STS and IAM answer in their own namespace
	Error   struct {
		Type    string `xml:"Type"`
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	} `xml:"Error"`
	RequestID string `xml:"RequestId"`
}

func writeError(w http.ResponseWriter, reqID, ns string, e *apiError) int {
	resp := errorResponse{XMLName: xml.Name{Space: ns, Local: "ErrorResponse"}}
	resp.Error.Type = "Sender"
	if e.status >= 500 {
		resp.Error.Type = "Receiver"
	}
	resp.Error.Code = e.code
	resp.Error.Message = e.message
	resp.RequestID = reqID
	return writeXML(w, e.status, reqID, &resp)
}

func writeXML(w http.ResponseWriter, status int, reqID string, v any) int {
	body, err := xml.Marshal(v)
	if err != nil {
		// Only reachable through a programming error in this package.
		status = http.StatusInternalServerError
		body = []byte(`<ErrorResponse xmlns="` + stsNamespace + `"><Error><Type>Receiver</Type><Code>InternalFailure</Code><Message>marshal failed</Message></Error></ErrorResponse>`)
	}
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("X-Amzn-Requestid", reqID)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
	return status
}
