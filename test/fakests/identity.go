package fakests

import (
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"math/big"
	"strings"
)

// trusts reports whether a role's trust list admits p.
func trusts(patterns []string, p *principal) bool {
	if len(patterns) == 0 {
		return true
	}
	candidates := []string{p.arn}
	if p.roleSession && p.roleArn != "" {
		candidates = append(candidates, p.roleArn)
	}
	for _, pat := range patterns {
		if pat == "*" || pat == p.account {
			return true
		}
		if part, svc, _, acct, res, ok := splitArn(pat); ok && svc == "iam" && res == "root" {
			if acct == p.account && part == arnPartition(p.arn) {
				return true
			}
			continue
		}
		for _, c := range candidates {
			if globMatch(pat, c) {
				return true
			}
		}
	}
	return false
}

// globMatch matches '*' (any run, including '/') and '?' (one byte).
func globMatch(pattern, s string) bool {
	px, sx := 0, 0
	nextPx, nextSx := -1, -1
	for px < len(pattern) || sx < len(s) {
		if px < len(pattern) {
			switch c := pattern[px]; c {
			case '*':
				nextPx, nextSx = px, sx+1
				px++
				continue
			case '?':
				if sx < len(s) {
					px++
					sx++
					continue
				}
			default:
				if sx < len(s) && s[sx] == c {
					px++
					sx++
					continue
				}
			}
		}
		if nextSx > 0 && nextSx <= len(s) {
			px, sx = nextPx, nextSx
			continue
		}
		return false
	}
	return true
}

func splitArn(arn string) (partition, service, region, account, resource string, ok bool) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[1] == "" {
		return "", "", "", "", "", false
	}
	return parts[1], parts[2], parts[3], parts[4], parts[5], true
}

func arnAccount(arn string) string {
	_, _, _, acct, _, _ := splitArn(arn)
	return acct
}

func arnPartition(arn string) string {
	part, _, _, _, _, _ := splitArn(arn)
	return part
}

// parseRoleArn accepts arn:PARTITION:iam::ACCOUNT:role[/path]/NAME.
func parseRoleArn(arn string) (name, partition, account string, ok bool) {
	part, svc, _, acct, res, ok := splitArn(arn)
	if !ok || svc != "iam" || acct == "" || !strings.HasPrefix(res, "role/") {
		return "", "", "", false
	}
	name = res[strings.LastIndex(res, "/")+1:]
	if name == "" {
		return "", "", "", false
	}
	return name, part, acct, true
}

const (
	idAlphabet     = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	secretAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
)

// stableID derives a deterministic AWS-style unique id (prefix + 17 chars),
// so a principal's UserId is the same on every call.
func stableID(prefix, seed string) string {
	sum := sha256.Sum256([]byte(seed))
	var b strings.Builder
	b.WriteString(prefix)
	for i := range 17 {
		b.WriteByte(idAlphabet[int(sum[i])%len(idAlphabet)])
	}
	return b.String()
}

func userIDFor(arn string) string { return stableID("AIDA", arn) }

func randBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return b
}

func randString(alphabet string, length int) string {
	out := make([]byte, length)
	n := big.NewInt(int64(len(alphabet)))
	for i := range out {
		k, err := rand.Int(rand.Reader, n)
		if err != nil {
			panic(err)
		}
		out[i] = alphabet[k.Int64()]
	}
	return string(out)
}

func newRequestID() string {
	b := randBytes(16)
	b[6] = (b[6] & 0x0f) | 0x40
	b[8] = (b[8] & 0x3f) | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// XML documents, shaped after real STS responses.
