// Package redact keeps credentials out of what prs prints: it hides the
// user information of URLs, and replaces known secret values (passwords,
// tokens, S3 secret keys) wherever they appear in a message, an error or an
// output stream.
package redact

import (
	"encoding/json"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Mask replaces a hidden value.
const Mask = "xxxxx"

// MinLen is the shortest value Secrets hides: a shorter one would garble
// every word that contains it, and guards nothing.
const MinLen = 4

// URL returns s, a URL or a comma-separated list of URLs (as NATS takes
// them), with the user information of each one hidden:
// "nats://user:pass@host" becomes "nats://user:xxxxx@host", and
// "nats://token@host" (a user without a password is a token to NATS)
// becomes "nats://xxxxx@host". It needs no well-formed URL: text that
// net/url refuses (a bad escape in a password) is hidden all the same.
func URL(s string) string {
	parts := strings.Split(s, ",")
	for i, p := range parts {
		parts[i] = urlPart(p)
	}
	return strings.Join(parts, ",")
}

func urlPart(p string) string {
	start := 0
	if i := strings.Index(p, "://"); i >= 0 {
		start = i + len("://")
	}
	at := strings.LastIndex(p[start:], "@")
	if at < 0 {
		return p
	}
	at += start
	userinfo := p[start:at]
	if user, _, ok := strings.Cut(userinfo, ":"); ok && !strings.ContainsAny(user, "/?#") {
		return p[:start] + user + ":" + Mask + p[at:]
	}
	return p[:start] + Mask + p[at:]
}

// URLSecrets returns the secret parts of the user information of each URL
// in s (a comma-separated list): the passwords, and the tokens (a user
// without a password), each as written and percent-decoded. User names
// that come with a password are not secret and are not returned.
func URLSecrets(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		start := 0
		if i := strings.Index(p, "://"); i >= 0 {
			start = i + len("://")
		}
		at := strings.LastIndex(p[start:], "@")
		if at < 0 {
			continue
		}
		userinfo := p[start : start+at]
		secret := userinfo
		if _, pass, ok := strings.Cut(userinfo, ":"); ok {
			secret = pass
		}
		out = append(out, secret)
		if dec, err := url.PathUnescape(secret); err == nil && dec != secret {
			out = append(out, dec)
		}
	}
	return out
}

// Secrets is a set of values to hide wherever they appear. The zero value
// is an empty set; it is safe for concurrent use.
type Secrets struct {
	mu   sync.RWMutex
	vals []string
	r    *strings.Replacer
}

// Add adds values to the set; values shorter than MinLen are ignored. A
// value is also hidden as Go and JSON quote it (a log line in text or JSON
// escapes quotes, backslashes and control characters).
func (s *Secrets) Add(vals ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	changed := false
	for _, v := range vals {
		if len(v) < MinLen {
			continue
		}
		j, _ := json.Marshal(v)
		q := strconv.Quote(v)
		for _, form := range []string{v, q[1 : len(q)-1], string(j[1 : len(j)-1])} {
			if !slices.Contains(s.vals, form) {
				s.vals = append(s.vals, form)
				changed = true
			}
		}
	}
	if !changed {
		return
	}
	// Longest first: a secret that holds another is hidden whole.
	sorted := slices.Clone(s.vals)
	slices.SortFunc(sorted, func(a, b string) int { return len(b) - len(a) })
	pairs := make([]string, 0, 2*len(sorted))
	for _, v := range sorted {
		pairs = append(pairs, v, Mask)
	}
	s.r = strings.NewReplacer(pairs...)
}

// AddURL adds the secrets of the user information of each URL in a
// comma-separated list (see [URLSecrets]).
func (s *Secrets) AddURL(u string) { s.Add(URLSecrets(u)...) }

// String returns text with every secret replaced by [Mask].
func (s *Secrets) String(text string) string {
	s.mu.RLock()
	r := s.r
	s.mu.RUnlock()
	if r == nil {
		return text
	}
	return r.Replace(text)
}

// Error returns err with its message hidden as [Secrets.String] does; it
// unwraps to err, so errors.Is and errors.As still see the chain. A nil
// err gives nil, and an error whose message holds no secret is returned as
// it is.
func (s *Secrets) Error(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if hidden := s.String(msg); hidden != msg {
		return &hiddenError{msg: hidden, err: err}
	}
	return err
}

type hiddenError struct {
	msg string
	err error
}

func (e *hiddenError) Error() string { return e.msg }
func (e *hiddenError) Unwrap() error { return e.err }

// Writer returns a writer that hides the secrets in everything written
// through it to w. Each Write is hidden on its own, so a secret split
// across two writes passes; prs writes each log record and message whole.
func (s *Secrets) Writer(w io.Writer) io.Writer { return &writer{s: s, w: w} }

type writer struct {
	s *Secrets
	w io.Writer
}

func (w *writer) Write(p []byte) (int, error) {
	text := string(p)
	hidden := w.s.String(text)
	if hidden == text {
		return w.w.Write(p)
	}
	if _, err := io.WriteString(w.w, hidden); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Unwrap returns the writer underneath (to ask whether it is a terminal).
func (w *writer) Unwrap() io.Writer { return w.w }
