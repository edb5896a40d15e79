//go:build !imds_stdjson

package imds

import (
	"time"
	"unicode/utf8"
)

// appendTime appends t as a quoted JSON string in timeLayout, in UTC.
func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, timeLayout)
	return append(b, '"')
}

// appendString appends s as a quoted JSON string. The documents are built by
// hand rather than with encoding/json so that the hot path does no
// reflection; the escaping matches encoding/json (invalid UTF-8 becomes
// U+FFFD, control characters become \u00XX).
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r != utf8.RuneError || size != 1 {
				i += size
				continue
			}
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			const hex = "0123456789abcdef"
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		i++
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendField appends `"name":"value"` preceded by a comma unless it is the
// first field of the object.
func appendField(b []byte, name, value string) []byte {
	if b[len(b)-1] != '{' {
		b = append(b, ',')
	}
	b = append(b, '"')
	b = append(b, name...) // names are constants that need no escaping
	b = append(b, '"', ':')
	return appendString(b, value)
}

// appendTimeField is appendField for a timestamp.
func appendTimeField(b []byte, name string, t time.Time) []byte {
	if b[len(b)-1] != '{' {
		b = append(b, ',')
	}
	b = append(b, '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return appendTime(b, t)
}

func renderEC2(c Credentials, now time.Time) []byte {
	return appendEC2Doc(make([]byte, 0, 256+len(c.SessionToken)), c, now, false)
}

func renderEC2Extended(c Credentials, now time.Time) []byte {
	return appendEC2Doc(make([]byte, 0, 256+len(c.SessionToken)), c, now, true)
}

// appendEC2Doc renders the IMDS credential document. Go v2 checks Code
// case-insensitively, Go v1 exactly; every SDK needs the four keys.
func appendEC2Doc(b []byte, c Credentials, now time.Time, extended bool) []byte {
	b = append(b, '{')
	b = appendField(b, "Code", "Success")
	b = appendTimeField(b, "LastUpdated", lastUpdated(c, now))
	b = appendField(b, "Type", "AWS-HMAC")
	b = appendField(b, "AccessKeyId", c.AccessKeyID)
	b = appendField(b, "SecretAccessKey", c.SecretAccessKey)
	b = appendField(b, "Token", c.SessionToken)
	b = appendTimeField(b, "Expiration", c.Expires)
	if extended && c.AccountID != "" {
		b = appendField(b, "AccountId", c.AccountID)
	}
	return append(b, '}')
}

// renderECS renders the container-credentials document.
func renderECS(c Credentials, _ time.Time) []byte {
	b := make([]byte, 0, 256+len(c.SessionToken))
	b = append(b, '{')
	b = appendField(b, "AccessKeyId", c.AccessKeyID)
	b = appendField(b, "SecretAccessKey", c.SecretAccessKey)
	b = appendField(b, "Token", c.SessionToken)
	b = appendTimeField(b, "Expiration", c.Expires)
	if c.RoleArn != "" {
		b = appendField(b, "RoleArn", c.RoleArn)
	}
	if c.AccountID != "" {
		b = appendField(b, "AccountId", c.AccountID)
	}
	return append(b, '}')
}

// ecsErrorDoc is an ECS error body with both spellings of the keys: Go v2
// reads code/message, the JS SDK Code/Message.
func ecsErrorDoc(code, msg string) []byte {
	b := make([]byte, 0, 128+2*len(msg))
	b = append(b, '{')
	b = appendField(b, "code", code)
	b = appendField(b, "message", msg)
	b = appendField(b, "Code", code)
	b = appendField(b, "Message", msg)
	return append(b, '}')
}

// identityDoc is the instance identity document. Fields the SDKs decode as
// lists, or IDs that have no meaning here, are null, as on EC2 instances
// without them.
func identityDoc(acct, az, imageID, instanceID, region string, pending time.Time) []byte {
	b := make([]byte, 0, 512)
	b = append(b, '{')
	b = appendField(b, "accountId", acct)
	b = appendField(b, "architecture", arch())
	b = appendField(b, "availabilityZone", az)
	b = append(b, `,"billingProducts":null,"devpayProductCodes":null,"marketplaceProductCodes":null`...)
	b = appendField(b, "imageId", imageID)
	b = appendField(b, "instanceId", instanceID)
	b = appendField(b, "instanceType", "t3.micro")
	b = append(b, `,"kernelId":null`...)
	b = appendTimeField(b, "pendingTime", pending)
	b = appendField(b, "privateIp", "127.0.0.1")
	b = append(b, `,"ramdiskId":null`...)
	b = appendField(b, "region", region)
	b = appendField(b, "version", "2017-09-30")
	return append(b, '}')
}

// iamInfoDoc is the iam/info document.
func iamInfoDoc(updated time.Time, arn, id string) []byte {
	b := make([]byte, 0, 256)
	b = append(b, '{')
	b = appendField(b, "Code", "Success")
	b = appendTimeField(b, "LastUpdated", updated)
	b = appendField(b, "InstanceProfileArn", arn)
	b = appendField(b, "InstanceProfileId", id)
	return append(b, '}')
}
