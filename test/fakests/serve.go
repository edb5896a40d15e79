package fakests

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// maxBody bounds request bodies; real STS requests are a few KiB at most.
const maxBody = 1 << 20

// ServeHTTP handles one STS Query-protocol request. For FaultHang and
// FaultDown it aborts with panic(http.ErrAbortHandler), which net/http turns
// into a dropped connection; callers invoking it directly (e.g. with an
// httptest.ResponseRecorder) must expect that panic for those modes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	received := time.Now()
	reqID := newRequestID()
	body, readErr := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	params := requestParams(r, body)
	sig, sigErr := parseSignature(r)
	ns := namespaceFor(sig.service)

	idx := s.recordCall(Call{
		Action:      params.Get("Action"),
		AccessKeyID: sig.accessKeyID,
		Params:      params,
		Time:        received,
	})

	var caller string
	status := 0
	defer func() {
		s.finishCall(idx, caller, status)
	}()

	if f := s.takeFault(params.Get("Action")); f.Mode != FaultNone || f.Delay > 0 {
		if f.Delay > 0 && !s.wait(r.Context(), f.Delay) {
			panic(http.ErrAbortHandler) // client gone or server closing
		}
		switch f.Mode {
		case Fault500:
			status = writeError(w, reqID, ns, errInternal())
			return
		case FaultThrottle:
			status = writeError(w, reqID, ns, &apiError{http.StatusBadRequest, "Throttling", "Rate exceeded"})
			return
		case FaultAccessDenied:
			status = writeError(w, reqID, ns, &apiError{http.StatusForbidden, "AccessDenied", "Injected fault: access denied"})
			return
		case FaultExpiredToken:
			status = writeError(w, reqID, ns, errExpiredToken())
			return
		case FaultInvalidToken:
			status = writeError(w, reqID, ns, errInvalidToken())
			return
		case FaultHang:
			s.wait(r.Context(), -1)
			// Abort rather than return: returning would send an empty 200.
			panic(http.ErrAbortHandler)
		case FaultDown:
			panic(http.ErrAbortHandler)
		}
	}

	switch {
	case readErr != nil:
		status = writeError(w, reqID, ns, &apiError{http.StatusBadRequest, "MalformedQueryString", "Could not read request body"})
		return
	case len(body) > maxBody:
		status = writeError(w, reqID, ns, &apiError{http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "Request body too large"})
		return
	case r.Method != http.MethodPost && r.Method != http.MethodGet:
		status = writeError(w, reqID, ns, &apiError{http.StatusMethodNotAllowed, "InvalidAction", "Only GET and POST are supported"})
		return
	case sigErr != nil:
		status = writeError(w, reqID, ns, sigErr)
		return
	}

	p, aerr := s.authenticate(r, body, sig)
	if aerr != nil {
		status = writeError(w, reqID, ns, aerr)
		return
	}
	caller = p.arn

	dispatch := s.dispatch
	if sig.service == iamServiceName {
		dispatch = s.dispatchIAM
	}
	resp, aerr := dispatch(reqID, p, params)
	if aerr != nil {
		status = writeError(w, reqID, ns, aerr)
		return
	}
	status = writeXML(w, http.StatusOK, reqID, resp)
}

// wait sleeps for d (forever if d < 0) and reports whether it ran to the
// end rather than being cut short by the client or by Close.
func (s *Server) wait(ctx context.Context, d time.Duration) bool {
	var timeout <-chan time.Time
	if d >= 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-timeout:
		return true
	case <-ctx.Done():
		return false
	case <-s.stop:
		return false
	}
}

// actionFault is a fault for one action and how many calls it has left.
type actionFault struct {
	f    Fault
	left int
}

// takeFault returns the fault for a call of action: the action's own
// fault first, else the one for every call.
func (s *Server) takeFault(action string) Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	if af := s.actionFaults[action]; af != nil {
		if af.f.Count > 0 {
			af.left--
			if af.left <= 0 {
				delete(s.actionFaults, action)
			}
		}
		return af.f
	}
	f := s.fault
	if f.Mode == FaultNone && f.Delay == 0 {
		return Fault{}
	}
	if f.Count > 0 {
		s.faultLeft--
		if s.faultLeft <= 0 {
			s.fault = Fault{}
		}
	}
	return f
}

func (s *Server) recordCall(c Call) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, c)
	return len(s.calls) - 1
}

func (s *Server) finishCall(idx int, caller string, status int) {
	s.mu.Lock()
	c := &s.calls[idx]
	c.Caller = caller
	c.Status = status
	logged := *c
	logf := s.logf
	s.mu.Unlock()
	if logf != nil {
		logf("fakests: %s action=%q akid=%q caller=%q status=%d",
			logged.Time.Format(time.RFC3339Nano), logged.Action, logged.AccessKeyID, logged.Caller, logged.Status)
	}
}

// requestParams merges form body (POST) and query string parameters, body
// first so it wins for Get. SigV4 presigning parameters are dropped: they
// carry the session token, which must not be retained.
func requestParams(r *http.Request, body []byte) url.Values {
	out := url.Values{}
	add := func(v url.Values) {
		for k, vs := range v {
			if strings.HasPrefix(strings.ToLower(k), "x-amz-") {
				continue
			}
			out[k] = append(out[k], vs...)
		}
	}
	if r.Method == http.MethodPost && len(body) > 0 {
		if v, err := url.ParseQuery(string(body)); err == nil {
			add(v)
		}
	}
	add(r.URL.Query())
	return out
}

func cloneValues(v url.Values) url.Values {
	if v == nil {
		return nil
	}
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}
