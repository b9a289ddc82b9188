package redact_test

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"

	"github.com/parallelrun/prs/internal/redact"
)

func TestURLHidesTheUserInformationOfEveryURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"nats://127.0.0.1:4222", "nats://127.0.0.1:4222"},
		{"nats://user:pass@host:4222", "nats://user:xxxxx@host:4222"},
		{"nats://t0ken@host", "nats://xxxxx@host"},
		{"tls://a:b@h1:4222,nats://c:d@h2:4222, nats://h3", "tls://a:xxxxx@h1:4222,nats://c:xxxxx@h2:4222, nats://h3"},
		{"user:pass@host:4222", "user:xxxxx@host:4222"},  // nats.go adds the scheme
		{"nats://u:p%zzass@host", "nats://u:xxxxx@host"}, // not a URL to net/url
		{"nats://u:pa/ss@w@host", "nats://u:xxxxx@host"}, // '/' and '@' unescaped
		{"http://key:secret@minio:9000/base", "http://key:xxxxx@minio:9000/base"},
		{"", ""},
	} {
		if got := redact.URL(tc.in); got != tc.want {
			t.Errorf("URL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestSecretsHideEveryValueEverywhere(t *testing.T) {
	t.Parallel()
	var s redact.Secrets
	s.Add("s3cret-pass", "abc", "")
	s.AddURL("nats://user:p%40ssword@h1,nats://tok3n-value@h2,nats://h3")
	for _, tc := range []struct{ in, want string }{
		{"auth s3cret-pass failed", "auth xxxxx failed"},
		{"short abc stays", "short abc stays"},
		{"as written p%40ssword, decoded p@ssword", "as written xxxxx, decoded xxxxx"},
		{"token tok3n-value", "token xxxxx"},
		{"user stays", "user stays"},
	} {
		if got := s.String(tc.in); got != tc.want {
			t.Errorf("String(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}

	err := fmt.Errorf("connecting with s3cret-pass: %w", fs.ErrPermission)
	hidden := s.Error(err)
	if strings.Contains(hidden.Error(), "s3cret-pass") || !errors.Is(hidden, fs.ErrPermission) {
		t.Fatalf("Error: %q, is ErrPermission %v", hidden, errors.Is(hidden, fs.ErrPermission))
	}
	if plain := errors.New("nothing secret"); s.Error(plain) != plain || s.Error(nil) != nil {
		t.Fatal("an error without a secret should be returned as it is")
	}

	var buf bytes.Buffer
	w := s.Writer(&buf)
	n, werr := fmt.Fprintf(w, "level=INFO msg=%q\n", "s3cret-pass")
	if werr != nil || n != len("level=INFO msg=\"s3cret-pass\"\n") || buf.String() != "level=INFO msg=\"xxxxx\"\n" {
		t.Fatalf("Writer: %d %v %q", n, werr, buf.String())
	}
}

func TestSecretsHideTheLongestFirst(t *testing.T) {
	t.Parallel()
	var s redact.Secrets
	s.Add("pass", "password-long")
	if got := s.String("password-long and pass"); got != "xxxxx and xxxxx" {
		t.Fatalf("%q", got)
	}
}

func TestSecretsHideTheQuotedFormsOfLogs(t *testing.T) {
	t.Parallel()
	var s redact.Secrets
	s.Add(`pa"ss\word<&>`)
	for _, line := range []string{
		`msg="auth pa\"ss\\word<&> failed"`,             // text handler (strconv.Quote)
		`{"msg":"auth pa\"ss\\word\u003c\u0026\u003e"}`, // encoding/json
		`plain pa"ss\word<&>`,
	} {
		if got := s.String(line); strings.Contains(got, "ss") {
			t.Errorf("String(%q) = %q", line, got)
		}
	}
}
