package service

import (
	"fmt"
	"strings"
)

// The service files imdsd writes. They are plain text built here (and
// handed to kardianos/service as custom templates without template
// actions), so the unit `imdsd service install` writes and the one the
// packages ship (packaging/imdsd.service, checked by a test) are the same.

const (
	// ServiceName names the unit, the launchd label and the Windows service.
	ServiceName = "imdsd"
	// SystemConfigPath is the system service's default config file.
	SystemConfigPath = "/etc/imdsd/config.toml"
	// PackagedExecutable is where the .deb and .rpm install the binary.
	PackagedExecutable = "/usr/bin/imdsd"

	serviceDescription = "EC2 instance-metadata and ECS credentials endpoints for local AWS SDKs"
	docsURL            = "https://github.com/imdsd/imdsd/blob/main/docs/service.md"
	// awsUserDropIn is the drop-in that names the AWS user of a system
	// unit; the package cannot know the user, `imdsd service install` can.
	awsUserDropIn = "aws-user.conf"
)

// systemdUnit is the system unit. It is the same for every machine: who it
// runs as lives in the aws-user.conf drop-in (systemdDropIn). Until that
// exists the unit refuses to start rather than run as root.
func systemdUnit(exe, configPath string) string {
	return `# imdsd system service. Who it runs as (the user whose ~/.aws is served) is
# set in ` + systemdDropInDir() + `/` + awsUserDropIn + `,
# written by: sudo imdsd service install --aws-user USER
# Documentation: ` + docsURL + `
[Unit]
Description=imdsd: ` + serviceDescription + `
Documentation=` + docsURL + `
After=network.target
AssertPathExists=` + systemdDropInDir() + `/` + awsUserDropIn + `
StartLimitIntervalSec=60
StartLimitBurst=10

[Service]
Type=simple
ExecStart=` + systemdExec(exe, "serve", "--config", configPath) + `
# SIGHUP reloads; sh's kill, as /bin/kill is not on every system.
ExecReload=/bin/sh -c "kill -HUP ${MAINPID}"
Restart=on-failure
RestartSec=2
# Port 80 on 169.254.169.254 and 169.254.170.2, and adding those addresses
# to lo, are all the privilege imdsd needs.
AmbientCapabilities=CAP_NET_BIND_SERVICE CAP_NET_ADMIN
CapabilityBoundingSet=CAP_NET_BIND_SERVICE CAP_NET_ADMIN
NoNewPrivileges=yes
# Everything read-only, the homes too (strict leaves them to ProtectHome),
# but what the drop-in's ReadWritePaths name: imdsd's directory (ECS
# token, keyring overlay) and the SSO token cache the daemon renews
# sign-ins in. The AWS user's ~/.aws stays readable.
ProtectSystem=strict
ProtectHome=read-only
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
ProtectProc=invisible
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallErrorNumber=EPERM
UMask=0077

[Install]
WantedBy=multi-user.target
`
}

// systemdDropIn names the user the system unit runs as. HOME lets the AWS
// SDK find ~/.aws; ReadWritePaths lets the daemon create the ECS token and
// its keyring overlay, and renew SSO sign-ins in the SDKs' token cache.
// execOverride, when set, replaces the unit's ExecStart (a packaged unit
// started with another binary or config).
func systemdDropIn(user, group, home, tokenDir string, execOverride []string) string {
	var b strings.Builder
	b.WriteString("# Written by `imdsd service install`; `imdsd service uninstall` removes it.\n")
	b.WriteString("[Service]\n")
	fmt.Fprintf(&b, "User=%s\nGroup=%s\n", user, group)
	fmt.Fprintf(&b, "Environment=%s\n", systemdQuote("HOME="+home))
	fmt.Fprintf(&b, "ReadWritePaths=%s\n", systemdQuote(tokenDir))
	// The SSO token cache, where the daemon renews sign-ins ("-": a cache
	// removed since install does not keep the unit from starting).
	fmt.Fprintf(&b, "ReadWritePaths=-%s\n", systemdQuote(ssoCacheDir(home)))
	if len(execOverride) > 0 {
		b.WriteString("ExecStart=\n")
		fmt.Fprintf(&b, "ExecStart=%s\n", systemdExec(execOverride[0], execOverride[1:]...))
	}
	return b.String()
}

// systemdUserUnit is the per-user unit (systemctl --user): no privileges,
// so it serves the loopback defaults of the user's own config.
func systemdUserUnit(exe string, args []string) string {
	return `# imdsd user service. Documentation: ` + docsURL + `
[Unit]
Description=imdsd: ` + serviceDescription + `
Documentation=` + docsURL + `
StartLimitIntervalSec=60
StartLimitBurst=10

[Service]
Type=simple
ExecStart=` + systemdExec(exe, args...) + `
ExecReload=/bin/sh -c "kill -HUP ${MAINPID}"
Restart=on-failure
RestartSec=2

[Install]
WantedBy=default.target
`
}

func systemdDropInDir() string { return "/etc/systemd/system/" + ServiceName + ".service.d" }

// systemdExec renders a command line for ExecStart=.
func systemdExec(exe string, args ...string) string {
	parts := []string{systemdQuoteExec(exe)}
	for _, a := range args {
		parts = append(parts, systemdQuoteExec(a))
	}
	return strings.Join(parts, " ")
}

// systemdQuote quotes one word for a unit file: plain words stay as they
// are; others are double-quoted with C escapes. "%" is doubled, or systemd
// would expand it as a specifier.
func systemdQuote(s string) string {
	s = strings.ReplaceAll(s, "%", "%%")
	plain := s != ""
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_-./:@+=,%$", r)) {
			plain = false
			break
		}
	}
	if plain {
		return s
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\t", `\t`).Replace(s) + `"`
}

// systemdQuoteExec is systemdQuote for command lines, where "$" also
// needs doubling (ExecStart= expands variables; Environment= does not).
func systemdQuoteExec(s string) string {
	return systemdQuote(strings.ReplaceAll(s, "$", "$$"))
}

// launchdLinkLocalPlist runs once at boot, as root, to alias the
// link-local addresses on lo0 before the LaunchDaemon (which runs as the
// AWS user and so cannot) binds them. macOS forgets aliases at reboot.
func launchdLinkLocalPlist(label string, addrs []string) string {
	var cmds []string
	for _, a := range addrs {
		cmds = append(cmds, "/sbin/ifconfig lo0 alias "+a+"/32")
	}
	return `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>Label</key>
	<string>` + label + `</string>
	<key>ProgramArguments</key>
	<array>
		<string>/bin/sh</string>
		<string>-c</string>
		<string>` + strings.Join(cmds, "; ") + `</string>
	</array>
	<key>RunAtLoad</key>
	<true/>
</dict>
</plist>
`
}
