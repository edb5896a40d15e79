package daemon

import (
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/imdsd/imdsd/config"
)

// Status is what `imdsd status` shows. It never holds a secret.
type Status struct {
	PID         int              `json:"pid"`
	Started     time.Time        `json:"started"`
	Demo        bool             `json:"demo"`
	Locked      bool             `json:"locked"`
	ConfigFile  string           `json:"config_file"`
	AWSFiles    []string         `json:"aws_files"`
	LastReload  time.Time        `json:"last_reload,omitzero"`
	ReloadError string           `json:"reload_error,omitempty"`
	IMDSProfile string           `json:"imds_profile"`
	Profiles    []ProfileStatus  `json:"profiles"`
	Listeners   []ListenerStatus `json:"listeners"`
	// AuditDropped counts vends not audited because the audit queue was
	// full (the clients were still served).
	AuditDropped int64 `json:"audit_dropped,omitempty"`
}

// ProfileStatus is one served profile.
type ProfileStatus struct {
	Name        string    `json:"name"`
	ServedAt    []string  `json:"served_at"`
	Kind        string    `json:"kind,omitempty"`
	RoleARN     string    `json:"role_arn,omitempty"`
	AccessKeyID string    `json:"access_key_id,omitempty"`
	Expires     time.Time `json:"expires,omitzero"`
	LastRefresh time.Time `json:"last_refresh,omitzero"`
	NextRefresh time.Time `json:"next_refresh,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
	NeedsMFA    bool      `json:"needs_mfa,omitempty"`
	MFAExpires  time.Time `json:"mfa_expires,omitzero"`
	Requests    int64     `json:"requests"`
}

// ListenerStatus is one bound address and its client policy.
type ListenerStatus struct {
	Face  string   `json:"face"`
	Addr  string   `json:"addr"`
	Allow []string `json:"allow"` // always includes loopback
	Hosts []string `json:"hosts,omitempty"`
}

// Status returns a snapshot.
func (d *Daemon) Status() Status {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := Status{
		PID: os.Getpid(), Started: d.started, Demo: d.opt.Demo, Locked: d.locked.Load(),
		ConfigFile: configName(d.cfg), AWSFiles: d.files.All(), LastReload: d.lastLoad.At,
		IMDSProfile: d.cfg.Profile, AuditDropped: d.audit.dropped.Load(),
	}
	if d.lastLoad.Err != nil {
		st.ReloadError = d.lastLoad.Err.Error()
	}
	brokers := *d.brokers.Load()
	for _, n := range servedProfiles(d.cfg) {
		ps := ProfileStatus{Name: n, ServedAt: servedAt(d.cfg, n)}
		if p := d.profiles[n]; p != nil {
			ps.Kind, ps.RoleARN = p.Kind.String(), p.RoleARN
		}
		if b := brokers[n]; b != nil {
			b.fillStatus(&ps)
			if b.up != nil && b.up.p.MFASerial != "" {
				ps.MFAExpires = d.mfa.expires(b.up)
			}
		}
		switch {
		case slices.Contains(d.missing, n):
			ps.LastError = fmt.Sprintf("profile %s is not in %s", n, strings.Join(d.files.All(), " or "))
		case st.Locked:
			ps.LastError = "locked"
		}
		st.Profiles = append(st.Profiles, ps)
	}
	for _, l := range d.listeners {
		ls := ListenerStatus{Face: l.face, Addr: l.ln.Addr().String(), Allow: []string{"loopback"}}
		pol := d.ec2Policy
		if l.face == "ecs" {
			pol = d.ecsPolicy
		}
		for _, a := range pol.Allow {
			ls.Allow = append(ls.Allow, a.String())
		}
		ls.Hosts = pol.Hosts
		st.Listeners = append(st.Listeners, ls)
	}
	sort.Slice(st.Listeners, func(i, j int) bool {
		return st.Listeners[i].Face+st.Listeners[i].Addr < st.Listeners[j].Face+st.Listeners[j].Addr
	})
	return st
}

func servedAt(cfg *config.Config, name string) []string {
	var out []string
	if name == cfg.Profile {
		out = append(out, "imds", "ecs /creds")
	}
	if name == cfg.Profile || slices.Contains(cfg.ECS.Profiles, name) {
		out = append(out, "ecs /role/"+name)
	}
	return out
}

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
		if !p.MFAExpires.IsZero() {
			left := p.MFAExpires.Sub(now)
			if left < mfaWarnBefore {
				fmt.Fprintf(w, "\n%s: WARNING: MFA session ends in %s; run `imdsd mfa --profile %s CODE` to extend it\n", p.Name, left.Round(time.Second), p.Name)
			} else {
				fmt.Fprintf(w, "\n%s: MFA session ends in %s\n", p.Name, left.Round(time.Minute))
			}
		}
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "LISTENER\tADDRESS\tCLIENTS ALLOWED\tEXTRA HOSTS")
	for _, l := range s.Listeners {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", l.Face, l.Addr, strings.Join(l.Allow, ", "), dash(strings.Join(l.Hosts, ", ")))
	}
	tw.Flush()
	if s.AuditDropped > 0 {
		fmt.Fprintf(w, "\naudit: %d vends not recorded (queue full)\n", s.AuditDropped)
	}
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
