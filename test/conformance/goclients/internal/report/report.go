// Package report holds what the Go conformance clients share: flags, the
// line format the suite parses, and reading the access key id that signed a
// request from its Authorization header (never the secret or the token).
package report

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"
)

// Flags are the options every client takes.
type Flags struct {
	Calls int
	Sleep time.Duration
}

// Parse reads -calls and -sleep (seconds, as the other clients take it).
func Parse() Flags {
	var (
		f       Flags
		seconds float64
	)
	flag.IntVar(&f.Calls, "calls", 1, "number of sts:GetCallerIdentity calls")
	flag.Float64Var(&seconds, "sleep", 0, "pause between calls, in `seconds`")
	flag.Parse()
	if f.Calls < 1 || seconds < 0 || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: client [-calls N] [-sleep SECONDS]")
		os.Exit(2)
	}
	f.Sleep = time.Duration(seconds * float64(time.Second))
	return f
}

// AccessKeyID returns the key id of a SigV4 Authorization header
// ("AWS4-HMAC-SHA256 Credential=AKID/date/region/sts/aws4_request, ...").
func AccessKeyID(authorization string) string {
	_, rest, ok := strings.Cut(authorization, "Credential=")
	if !ok {
		return "-"
	}
	akid, _, _ := strings.Cut(rest, "/")
	return akid
}

// OK prints the line the suite looks for after a successful call.
func OK(call int, akid, arn string) {
	fmt.Printf("call=%d result=ok akid=%s arn=%s\n", call, akid, arn)
}

// Fail prints a failed call. The SDK errors printed here carry codes and
// messages, never credentials.
func Fail(call int, akid string, err error) {
	fmt.Printf("call=%d result=error akid=%s error=%q\n", call, akid, err.Error())
}
