package control

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// mfaWarnBefore: status warns when an MFA session ends sooner than this.
const mfaWarnBefore = time.Hour

// WriteText renders the status for people.
func (s Status) WriteText(w io.Writer, now time.Time) {
	state := "running"
	if s.Locked {
		state = "LOCKED (nothing is served; run `imdsd unlock`)"
	}
	if s.Demo {
		state += ", DEMO MODE (dummy credentials)"
	}
	fmt.Fprintf(w, "imdsd %s, pid %d, up %s\n", state, s.PID, now.Sub(s.Started).Round(time.Second))
	fmt.Fprintf(w, "config: %s\naws files: %s\n", s.ConfigFile, strings.Join(s.AWSFiles, ", "))
	switch {
	case s.ReloadError != "":
		fmt.Fprintf(w, "last reload %s FAILED (the previous config is serving): %s\n", ago(now, s.LastReload), s.ReloadError)
	case !s.LastReload.IsZero():
		fmt.Fprintf(w, "last reload %s: ok\n", ago(now, s.LastReload))
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PROFILE\tSERVED AT\tROLE\tACCESS KEY\tEXPIRES IN\tNEXT REFRESH\tREQUESTS")
	for _, p := range s.Profiles {
		role := p.RoleARN
		if role == "" {
			role = p.Kind
		}
		exp, next := "-", "-"
		if !p.Expires.IsZero() {
			exp = p.Expires.Sub(now).Round(time.Second).String()
		}
		if !p.NextRefresh.IsZero() && !s.Locked {
			next = "in " + p.NextRefresh.Sub(now).Round(time.Second).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\n", p.Name, strings.Join(p.ServedAt, ", "), role, dash(p.AccessKeyID), exp, next, p.Requests)
	}
	tw.Flush()
	for _, p := range s.Profiles {
		switch {
		case p.NeedsMFA:
			fmt.Fprintf(w, "\n%s: needs MFA: run `imdsd mfa --profile %s CODE`\n", p.Name, p.Name)
		case p.LastError != "":
			fmt.Fprintf(w, "\n%s: last error: %s\n", p.Name, p.LastError)
		}
		if line := ssoLine(p, now); line != "" && !s.inSSOSession(p) {
			fmt.Fprintf(w, "\n%s: %s\n", p.Name, line)
		}
		if p.Keyring != "" {
			fmt.Fprintf(w, "\n%s: %s\n", p.Name, keyringLine(p, now))
		}
		if !p.MFAExpires.IsZero() {
			left := p.MFAExpires.Sub(now)
			if left < mfaWarnBefore {
				fmt.Fprintf(w, "\n%s: WARNING: MFA session ends in %s; run `imdsd mfa --profile %s CODE` to extend it\n", p.Name, left.Round(time.Second), p.Name)
			} else {
				fmt.Fprintf(w, "\n%s: MFA session ends in %s\n", p.Name, left.Round(time.Minute))
			}
		}
	}
	s.writeSSOSessions(w, now)
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "LISTENER\tADDRESS\tCLIENTS ALLOWED\tEXTRA HOSTS")
	for _, l := range s.Listeners {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", l.Face, l.Addr, strings.Join(l.Allow, ", "), dash(strings.Join(l.Hosts, ", ")))
	}
	tw.Flush()
	for _, warn := range s.Warnings {
		fmt.Fprintf(w, "\nwarning: %s\n", warn)
	}
	if s.AuditDropped > 0 {
		fmt.Fprintf(w, "\naudit: %d vends not recorded (queue full)\n", s.AuditDropped)
	}
}

// keyringLine names the keyring key behind a profile and its age.
func keyringLine(p ProfileStatus, now time.Time) string {
	line := "long-term key in the keyring (profile " + p.Keyring + ")"
	if p.KeyringKeyID != "" {
		line += ": " + p.KeyringKeyID
	}
	if !p.KeyringCreated.IsZero() {
		line += fmt.Sprintf(", %d days old", int(now.Sub(p.KeyringCreated).Hours()/24))
	}
	if p.KeyringRotate != "" {
		line += "\n  warning: " + p.KeyringRotate
	}
	return line
}

// ssoLine says how long the SSO sign-in behind a profile lasts, and when
// to sign in again; "" when there is nothing to add to the last error.
func ssoLine(p ProfileStatus, now time.Time) string {
	login := fmt.Sprintf("run `imdsd login --profile %s`", p.SSOProfile)
	left := p.SSOExpires.Sub(now)
	switch {
	case p.SSOProfile == "":
		return ""
	case p.SSOExpires.IsZero():
		if p.LastError != "" {
			return "" // the error already says to sign in
		}
		return "not signed in to IAM Identity Center: " + login
	case p.SSORenews:
		return fmt.Sprintf("SSO token renews itself until the SSO session ends (this one: %s)", signedLeft(left))
	case left <= 0:
		return "WARNING: the SSO sign-in expired: " + login
	case left < mfaWarnBefore:
		return fmt.Sprintf("WARNING: the SSO sign-in ends in %s and cannot renew itself: %s", left.Round(time.Second), login)
	}
	return fmt.Sprintf("SSO sign-in ends in %s", left.Round(time.Minute))
}

func signedLeft(d time.Duration) string {
	if d <= 0 {
		return "expired, renewed at the next fetch"
	}
	return d.Round(time.Minute).String() + " left"
}

func ago(now, t time.Time) string {
	return now.Sub(t).Round(time.Second).String() + " ago"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Healthy: not locked, and every served profile holds credentials that
// are still valid now.
func (s Status) Healthy(now time.Time) bool {
	if s.Locked {
		return false
	}
	for _, p := range s.Profiles {
		if p.AccessKeyID == "" || !p.Expires.After(now) {
			return false
		}
	}
	return true
}

// Short is the status in one line, for shell prompts and scripts.
func (s Status) Short(now time.Time) string {
	if s.Locked {
		return "imdsd: LOCKED (run `imdsd unlock`)"
	}
	parts := make([]string, 0, len(s.Profiles))
	for _, p := range s.Profiles {
		switch {
		case p.AccessKeyID != "" && p.Expires.After(now):
			parts = append(parts, fmt.Sprintf("%s ok (%s left)", p.Name, p.Expires.Sub(now).Round(time.Minute)))
		case p.NeedsMFA:
			parts = append(parts, fmt.Sprintf("%s needs MFA (imdsd mfa --profile %s CODE)", p.Name, p.Name))
		case p.LastError != "":
			parts = append(parts, fmt.Sprintf("%s FAILING: %s", p.Name, p.LastError))
		default:
			parts = append(parts, p.Name+" no credentials yet")
		}
	}
	return "imdsd: " + strings.Join(parts, "; ")
}
