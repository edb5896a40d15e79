package imds

import (
	"context"
	"net/http"
	"strings"
	"time"
)

// defaultAccount is reported when the account of the profile is unknown.
const defaultAccount = "000000000000"

// accountWait bounds how long a non-credential page (identity document,
// iam/info) waits for the Source: these pages must answer even while the
// credentials are unavailable, and SDKs give up after about a second.
const accountWait = 250 * time.Millisecond

func (e *EC2) serveListing(body string) ec2Handler {
	return func(w http.ResponseWriter, r *http.Request, _ *ec2State, _ time.Time) { e.ok(w, r, body) }
}

func (e *EC2) serveInstanceID(w http.ResponseWriter, r *http.Request, st *ec2State, _ time.Time) {
	e.ok(w, r, st.s.InstanceID)
}

func (e *EC2) serveRegion(w http.ResponseWriter, r *http.Request, st *ec2State, _ time.Time) {
	e.ok(w, r, st.s.Region)
}

func (e *EC2) serveAZ(w http.ResponseWriter, r *http.Request, st *ec2State, _ time.Time) {
	e.ok(w, r, st.az)
}

// serveIdentity answers /latest/dynamic/instance-identity/document, where Go
// and Java look up the region. Fields the SDKs decode as lists or IDs that
// have no meaning here are null, as on EC2 instances without them.
func (e *EC2) serveIdentity(w http.ResponseWriter, r *http.Request, st *ec2State, now time.Time) {
	acct, _ := e.account(r.Context(), st, now)
	b := identityDoc(acct, st.az, st.imageID, st.s.InstanceID, st.s.Region, e.started)
	e.ok(w, r, string(b))
}

// serveIAMInfo answers iam/info. It exists only while a role is served, and
// reports a fake instance profile in the profile's account when known.
func (e *EC2) serveIAMInfo(w http.ResponseWriter, r *http.Request, st *ec2State, now time.Time) {
	if st.s.Profile == "" {
		e.notFound(w, r)
		return
	}
	acct, updated := e.account(r.Context(), st, now)
	b := iamInfoDoc(updated, "arn:aws:iam::"+acct+":instance-profile/"+st.s.Profile, st.profileID)
	e.ok(w, r, string(b))
}

// account returns the served profile's account and when its credentials
// were obtained, falling back to defaultAccount and now: these pages do not
// depend on the credentials being available.
func (e *EC2) account(ctx context.Context, st *ec2State, now time.Time) (string, time.Time) {
	if st.s.Profile == "" {
		return defaultAccount, now
	}
	ctx, cancel := context.WithTimeout(ctx, accountWait)
	defer cancel()
	c, err := e.src.Credentials(ctx, st.s.Profile, now)
	if err != nil {
		return defaultAccount, now
	}
	acct := c.AccountID
	if acct == "" {
		acct = accountFromARN(c.RoleArn)
	}
	if acct == "" {
		acct = defaultAccount
	}
	return acct, lastUpdated(c, now)
}

// accountFromARN returns the 12-digit account field of an ARN, or "".
func accountFromARN(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || len(parts[4]) != 12 {
		return ""
	}
	for _, c := range parts[4] {
		if c < '0' || c > '9' {
			return ""
		}
	}
	return parts[4]
}
