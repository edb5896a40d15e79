package imds

import (
	"bytes"
	"encoding/json"
	"time"
)

// The documents are rendered with encoding/json. A credential document is
// rendered once per credentials and then served from a cache (docCache),
// so a faster hand-written encoder bought nothing measurable (the A/B in
// docs/benchmarks.md).

// marshal renders v. HTML escaping is off: SDKs read these bodies, no page
// embeds them, and "<profile>" should stay readable.
func marshal(v any) []byte {
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	_ = e.Encode(v) // strings and nils only: cannot fail
	return bytes.TrimSuffix(b.Bytes(), []byte{'\n'})
}

// jsonTime is a time in timeLayout, in UTC.
func jsonTime(t time.Time) string { return t.UTC().Format(timeLayout) }

// ec2CredsDoc is the IMDS credential document. Go v2 checks Code
// case-insensitively, Go v1 exactly; every SDK needs the four keys.
type ec2CredsDoc struct {
	Code            string
	LastUpdated     string
	Type            string
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string
	Token           string
	Expiration      string
	AccountID       string `json:"AccountId,omitempty"`
}

func renderEC2(c Credentials, now time.Time) []byte { return renderEC2Doc(c, now, false) }

func renderEC2Extended(c Credentials, now time.Time) []byte { return renderEC2Doc(c, now, true) }

func renderEC2Doc(c Credentials, now time.Time, extended bool) []byte {
	d := ec2CredsDoc{
		Code:            "Success",
		LastUpdated:     jsonTime(lastUpdated(c, now)),
		Type:            "AWS-HMAC",
		AccessKeyID:     c.AccessKeyID,
		SecretAccessKey: c.SecretAccessKey,
		Token:           c.SessionToken,
		Expiration:      jsonTime(c.Expires),
	}
	if extended {
		d.AccountID = c.AccountID
	}
	return marshal(d)
}

// renderECS renders the container-credentials document.
func renderECS(c Credentials, _ time.Time) []byte {
	return marshal(struct {
		AccessKeyID     string `json:"AccessKeyId"`
		SecretAccessKey string
		Token           string
		Expiration      string
		RoleArn         string `json:",omitempty"`
		AccountID       string `json:"AccountId,omitempty"`
	}{c.AccessKeyID, c.SecretAccessKey, c.SessionToken, jsonTime(c.Expires), c.RoleArn, c.AccountID})
}

// ecsErrorDoc is an ECS error body with both spellings of the keys: Go v2
// reads code/message, the JS SDK Code/Message.
func ecsErrorDoc(code, msg string) []byte {
	return marshal(struct {
		Code1    string `json:"code"`
		Message1 string `json:"message"`
		Code2    string `json:"Code"`
		Message2 string `json:"Message"`
	}{code, msg, code, msg})
}

// identityDoc is the instance identity document. Fields the SDKs decode as
// lists, or IDs that have no meaning here, are null, as on EC2 instances
// without them.
func identityDoc(acct, az, imageID, instanceID, region string, pending time.Time) []byte {
	return marshal(struct {
		AccountID               string   `json:"accountId"`
		Architecture            string   `json:"architecture"`
		AvailabilityZone        string   `json:"availabilityZone"`
		BillingProducts         []string `json:"billingProducts"`
		DevpayProductCodes      []string `json:"devpayProductCodes"`
		MarketplaceProductCodes []string `json:"marketplaceProductCodes"`
		ImageID                 string   `json:"imageId"`
		InstanceID              string   `json:"instanceId"`
		InstanceType            string   `json:"instanceType"`
		KernelID                *string  `json:"kernelId"`
		PendingTime             string   `json:"pendingTime"`
		PrivateIP               string   `json:"privateIp"`
		RamdiskID               *string  `json:"ramdiskId"`
		Region                  string   `json:"region"`
		Version                 string   `json:"version"`
	}{
		AccountID: acct, Architecture: arch(), AvailabilityZone: az,
		ImageID: imageID, InstanceID: instanceID, InstanceType: "t3.micro",
		PendingTime: jsonTime(pending), PrivateIP: "127.0.0.1", Region: region, Version: "2017-09-30",
	})
}

// iamInfoDoc is the iam/info document.
func iamInfoDoc(updated time.Time, arn, id string) []byte {
	return marshal(struct {
		Code               string
		LastUpdated        string
		InstanceProfileArn string
		InstanceProfileID  string `json:"InstanceProfileId"`
	}{"Success", jsonTime(updated), arn, id})
}
