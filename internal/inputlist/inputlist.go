// Package inputlist lists a job's input: it is the one place that decides
// which objects of an input folder are the job's input files. Every listing
// of an input (the producer's fingerprint, its planning and publishing, and
// prs debug) goes through [List], so that they all agree:
//
//   - include patterns select files (contracts.Config.Included);
//   - prs's own objects are never input: any ".prs" folder (a job's staging
//     and the output lock), and the "logs" folder beside a ".prs" folder
//     (an output's log layout);
//   - when the job's output folder lies inside its input folder, the whole
//     output subtree is left out (results, logs, staging), so that a job
//     never scores its own or an earlier run's output;
//   - symbolic links that lead out of a local input are followed only with
//     follow_symlinks.
package inputlist

import (
	"context"
	"path/filepath"
	"strings"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/objstore"
)

// Names of prs's own folders under an output.
const (
	// OwnFolder holds a job's staging (".prs/<job>/") and the output's lock.
	OwnFolder = ".prs"
	// LogsFolder holds an output's log layout.
	LogsFolder = "logs"
)

// Stats tells what a listing left out.
type Stats struct {
	// OutputPrefix is the key prefix ("sub/out/") of the job's output
	// folder inside the input; "" when the output lies elsewhere.
	OutputPrefix string
	// OutputObjects counts objects left out because they are under the
	// job's output folder.
	OutputObjects int64
	// OwnObjects counts objects left out because they are prs's own: under
	// a ".prs" folder, or under the "logs" folder of an output.
	OwnObjects int64
}

// List calls fn with every input file of the job, in key order, streaming.
// An error of fn stops the listing and is returned as is.
func List(ctx context.Context, input objstore.Store, c *contracts.Config, fn func(objstore.ObjectInfo) error) (Stats, error) {
	f := newFilter(c)
	if c.FollowSymlinks {
		input = objstore.FollowSymlinks(input)
	}
	err := input.List(ctx, "", func(o objstore.ObjectInfo) error {
		if !f.keep(o.Key) {
			return nil
		}
		return fn(o)
	})
	return f.stats, err
}

// Keep reports whether key (relative to the input root) is an input file of
// c, for a key that arrives alone (prs watch's events): included, not under
// the job's output folder nor under a ".prs" folder. (A "logs" folder is
// recognised as an output's only in a listing, which sees its ".prs"
// sibling first.)
func Keep(c *contracts.Config, key string) bool {
	return newFilter(c).keep(key)
}

// filter is the state of one listing.
type filter struct {
	c     *contracts.Config
	stats Stats
	// outputs holds the folders (key prefixes, "" for the root) seen to
	// hold a ".prs" folder: prs outputs, whose "logs" folder is prs's too.
	// In key order "P/.prs/..." comes before "P/logs/..." ('.' < 'l').
	outputs map[string]bool
}

func newFilter(c *contracts.Config) *filter {
	prefix, _ := OutputPrefix(c)
	return &filter{c: c, stats: Stats{OutputPrefix: prefix}, outputs: map[string]bool{}}
}

func (f *filter) keep(key string) bool {
	if p := f.stats.OutputPrefix; p != "" && strings.HasPrefix(key, p) {
		f.stats.OutputObjects++
		return false
	}
	if f.own(key) {
		f.stats.OwnObjects++
		return false
	}
	return f.c.Included(key)
}

// own reports whether key lies under one of prs's own folders.
func (f *filter) own(key string) bool {
	parent := ""
	for {
		name, rest, folder := strings.Cut(key, "/")
		switch {
		case name == OwnFolder:
			if folder {
				f.outputs[parent] = true
			}
			return true
		case folder && name == LogsFolder && f.outputs[parent]:
			return true
		case !folder:
			return false
		}
		parent += name + "/"
		key = rest
	}
}

// OutputPrefix tells where c's output folder lies inside c's input folder:
// its key prefix (ending in "/") when it is inside, "" when it is not, and
// same when the two are one folder.
func OutputPrefix(c *contracts.Config) (prefix string, same bool) {
	in, out := Place(c.Input), Place(c.Output)
	if in == "" || out == "" || !strings.HasPrefix(out, in) {
		return "", false
	}
	return out[len(in):], out == in
}

// Place returns a location in a form that compares: "s3://bucket/prefix/",
// or a local folder's absolute path with its symbolic links resolved (as
// far as it exists), with "/" separators and a trailing "/". It returns ""
// for a URI it cannot place.
func Place(uri string) string {
	switch {
	case len(uri) >= 5 && strings.EqualFold(uri[:5], "s3://"):
		rest := strings.TrimRight(uri[5:], "/")
		return "s3://" + rest + "/"
	case len(uri) >= 7 && strings.EqualFold(uri[:7], "file://"):
		uri = uri[7:]
		if strings.HasPrefix(uri, "localhost/") {
			uri = uri[len("localhost"):]
		}
	}
	abs, err := filepath.Abs(uri)
	if err != nil {
		return ""
	}
	return filepath.ToSlash(resolve(abs)) + "/"
}

// resolve resolves the symbolic links of the longest existing ancestor of
// the absolute path p.
func resolve(p string) string {
	rest := ""
	for {
		if r, err := filepath.EvalSymlinks(p); err == nil {
			return filepath.Join(r, rest)
		}
		parent := filepath.Dir(p)
		if parent == p {
			return filepath.Join(p, rest)
		}
		rest = filepath.Join(filepath.Base(p), rest)
		p = parent
	}
}

// IsOwnName reports whether a file name at an output's root would collide
// with prs's own: "logs" (any case, for case-insensitive file systems) or a
// name that starts with ".prs".
func IsOwnName(name string) bool {
	return strings.EqualFold(name, LogsFolder) || strings.HasPrefix(strings.ToLower(name), OwnFolder)
}
