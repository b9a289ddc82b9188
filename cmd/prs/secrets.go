package main

import (
	"flag"
	"io"
	"os"

	"github.com/parallelrun/prs/internal/redact"
)

// secrets are the credentials this process knows: the NATS password and
// token, the secrets of the NATS URLs and of the S3 endpoint, and the AWS
// secret key and session token of the environment. run hides them in
// everything the process writes to its stdout and stderr, whatever path a
// message took; the places that print URLs hide their user information
// themselves (redact.URL), so this is the last guard, not the only one.
var secrets redact.Secrets

// secretsFromEnv adds the credentials of the environment to secrets (the
// flags that carry one add theirs when they are set).
func secretsFromEnv() {
	secrets.Add(os.Getenv("AWS_SECRET_ACCESS_KEY"), os.Getenv("AWS_SESSION_TOKEN"))
	for _, k := range []string{"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"} {
		secrets.AddURL(os.Getenv(k))
	}
}

// secretFlag is a string flag that may hold a credential. Its value joins
// secrets, and -h shows it only through show (nothing when show is nil):
// the flag package prints a default that came from the environment.
type secretFlag struct {
	p    *string
	show func(string) string
}

func (f *secretFlag) Set(v string) error {
	*f.p = v
	if f.show == nil {
		secrets.Add(v)
	} else {
		secrets.AddURL(v)
	}
	return nil
}

func (f *secretFlag) String() string {
	if f == nil || f.p == nil || f.show == nil {
		return ""
	}
	return f.show(*f.p)
}

// secretVar defines a secretFlag whose default is the environment
// variable env. show, when set, shows a URL's value with its credentials
// hidden (redact.URL); nil never shows the value.
func secretVar(fs *flag.FlagSet, name, env, usage string, show func(string) string) *string {
	f := &secretFlag{p: new(string), show: show}
	if v := os.Getenv(env); v != "" {
		_ = f.Set(v)
	}
	fs.Var(f, name, usage+" (env "+env+")")
	return f.p
}

// envVar defines a string flag whose default is the environment variable env.
func envVar(fs *flag.FlagSet, name, env, usage string) *string {
	return fs.String(name, os.Getenv(env), usage+" (env "+env+")")
}

// unwrapWriter returns the writer beneath the secret-hiding writers.
func unwrapWriter(w io.Writer) io.Writer {
	for {
		u, ok := w.(interface{ Unwrap() io.Writer })
		if !ok {
			return w
		}
		w = u.Unwrap()
	}
}
