package producer

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/ledger"
	"github.com/parallelrun/prs/internal/objstore"
)

// singleFileInput makes an input that names one file a job of that file: a
// table (by its extension) becomes a tabular job of it alone
// (contracts.Config.SplitSingleFileInput), any other file a one-file job.
// Either way the input becomes the file's folder and an include pattern
// anchored at it that matches the file alone. A local file reached through
// a symbolic link is named by its real path, so that the listing (which
// does not follow links that leave the folder) finds it.
func singleFileInput(ctx context.Context, stores *ledger.Stores, c *contracts.Config) {
	if !isS3(c.Input) {
		p := strings.TrimPrefix(c.Input, "file://")
		if fi, err := os.Lstat(p); err == nil && fi.Mode()&os.ModeSymlink != 0 {
			if real, err := filepath.EvalSymlinks(p); err == nil {
				if fi, err := os.Stat(real); err == nil && fi.Mode().IsRegular() {
					c.Input = real
				}
			}
		}
	}
	before := c.Input
	c.SplitSingleFileInput()
	if c.Input != before {
		return // a table
	}
	dir, base, ok := oneFile(ctx, stores, c.Input)
	if !ok {
		return
	}
	c.Input, c.Include = dir, []string{"/" + escapeGlob(base)}
}

// oneFile reports whether uri names one existing object or regular file,
// and splits it into its folder and name. It asks nothing of the network
// for a URI that ends with "/".
func oneFile(ctx context.Context, stores *ledger.Stores, uri string) (dir, base string, ok bool) {
	if strings.HasSuffix(uri, "/") {
		return "", "", false
	}
	if !isS3(uri) {
		p := strings.TrimPrefix(uri, "file://")
		fi, err := os.Stat(p)
		if err != nil || !fi.Mode().IsRegular() {
			return "", "", false
		}
		return filepath.Dir(p), filepath.Base(p), true
	}
	i := strings.LastIndex(uri, "/")
	if i < len("s3://") {
		return "", "", false // s3://bucket
	}
	dir, base = uri[:i], uri[i+1:]
	// One try, without the retries of stores.Open: an unreachable store is
	// for the input's check to report.
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	parent, err := objstore.Open(ctx, dir, stores.Options)
	if err != nil {
		return "", "", false
	}
	if _, err := parent.Stat(ctx, base); err != nil {
		return "", "", false
	}
	// An object and a folder of the same name: the folder is the input.
	errFound := errors.New("found")
	if err := parent.List(ctx, base+"/", func(objstore.ObjectInfo) error { return errFound }); errors.Is(err, errFound) {
		return "", "", false
	}
	return dir, base, true
}

func isS3(uri string) bool { return len(uri) >= 5 && strings.EqualFold(uri[:5], "s3://") }

// escapeGlob quotes the characters that path.Match treats as patterns.
func escapeGlob(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
