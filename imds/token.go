package imds

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"hash"
	"sync"
	"sync/atomic"
	"time"
)

// IMDSv2 session tokens are stateless: a token is
// base64url(expiry || HMAC-SHA256(key, expiry)[:16]), expiry being big-endian
// Unix seconds. Verifying needs only the key, so memory stays flat however
// many tokens clients ask for, and nothing needs expiring. The key is random
// per process: after a restart old tokens get 401, which every SDK answers by
// asking for a new token.
const (
	tokenExpiryLen = 8
	tokenMACLen    = 16 // 128 bits of HMAC-SHA256 is ample against forgery
	tokenRawLen    = tokenExpiryLen + tokenMACLen
	// tokenLen is the length of every token we mint; 24 raw bytes encode to
	// exactly 32 characters with no partial group, so there is one encoding
	// per token and no malleability.
	tokenLen = 32

	minTokenTTL = 1
	maxTokenTTL = 21600 // six hours, as on EC2
)

var tokenEncoding = base64.RawURLEncoding

type tokenSigner struct {
	key  [32]byte
	macs sync.Pool // of *macScratch: keyed HMAC states reused without allocating
	// last is the most recently verified token. An SDK reuses its token
	// for minutes, so most requests match it and skip the HMAC. One entry,
	// so memory stays flat.
	last atomic.Pointer[verifiedToken]
}

type verifiedToken struct {
	tok    string
	expiry int64
}

type macScratch struct {
	h   hash.Hash
	msg [tokenExpiryLen]byte
	sum []byte
}

func newTokenSigner() *tokenSigner {
	var key [32]byte
	// crypto/rand.Read never fails since Go 1.24 (it aborts the program).
	_, _ = rand.Read(key[:])
	return newTokenSignerWithKey(key)
}

func newTokenSignerWithKey(key [32]byte) *tokenSigner {
	s := &tokenSigner{key: key}
	s.macs.New = func() any {
		return &macScratch{h: hmac.New(sha256.New, s.key[:]), sum: make([]byte, 0, sha256.Size)}
	}
	return s
}

// mac writes the truncated HMAC of expiry into out.
func (s *tokenSigner) mac(expiry int64, out []byte) {
	m := s.macs.Get().(*macScratch)
	m.h.Reset()
	binary.BigEndian.PutUint64(m.msg[:], uint64(expiry))
	m.h.Write(m.msg[:])
	m.sum = m.h.Sum(m.sum[:0])
	copy(out, m.sum[:tokenMACLen])
	s.macs.Put(m)
}

// mint returns a token valid for ttl seconds from now.
func (s *tokenSigner) mint(now time.Time, ttl int) string {
	var raw [tokenRawLen]byte
	expiry := now.Unix() + int64(ttl)
	binary.BigEndian.PutUint64(raw[:tokenExpiryLen], uint64(expiry))
	s.mac(expiry, raw[tokenExpiryLen:])
	return tokenEncoding.EncodeToString(raw[:])
}

// valid reports whether tok was minted with this key and has not expired.
func (s *tokenSigner) valid(now time.Time, tok string) bool {
	// Reject on length first: garbage of any size costs nothing to refuse.
	if len(tok) != tokenLen {
		return false
	}
	// Constant time, or the comparison would leak a valid token's bytes.
	if v := s.last.Load(); v != nil && subtle.ConstantTimeCompare([]byte(tok), []byte(v.tok)) == 1 {
		return now.Unix() < v.expiry
	}
	var raw [tokenRawLen]byte
	n, err := tokenEncoding.Decode(raw[:], []byte(tok))
	if err != nil || n != tokenRawLen {
		return false
	}
	expiry := int64(binary.BigEndian.Uint64(raw[:tokenExpiryLen]))
	var want [tokenMACLen]byte
	s.mac(expiry, want[:])
	if !hmac.Equal(raw[tokenExpiryLen:], want[:]) {
		return false
	}
	s.last.Store(&verifiedToken{tok: tok, expiry: expiry})
	// Checked after the MAC so that the time taken does not depend on
	// whether a forged expiry happens to lie in the future.
	return now.Unix() < expiry
}
