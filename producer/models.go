package producer

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/ledger"
	"github.com/parallelrun/prs/internal/objstore"
	"github.com/parallelrun/prs/internal/redact"
)

// scriptModels are the models that an entry script's
// Model.get_model_path names (the models setting): a local file or folder
// is shipped with the job under its staging root, an s3:// object or
// prefix is fetched by the workers from where it is.
type scriptModels struct {
	// local maps a model's name to its local file or folder.
	local map[string]string
	// remote maps a model's name to its s3:// URI.
	remote map[string]string
	// digests maps a model's name to the digest of its content: its files'
	// names and sha256, or, for a URI, its objects' names and ETags.
	digests map[string]string
}

// resolveScriptModels checks that each model exists and digests it.
func resolveScriptModels(ctx context.Context, stores *ledger.Stores, c *contracts.Config) (*scriptModels, error) {
	m := &scriptModels{local: map[string]string{}, remote: map[string]string{}, digests: map[string]string{}}
	for _, name := range slices.Sorted(maps.Keys(c.Models)) {
		uri := c.Models[name]
		var err error
		if strings.HasPrefix(uri, "s3://") {
			m.remote[name] = uri
			m.digests[name], err = remoteDigest(ctx, stores, uri)
		} else {
			p := strings.TrimPrefix(uri, "file://")
			m.local[name] = p
			m.digests[name], err = localDigest(p)
		}
		if err != nil {
			return nil, &contracts.FieldError{Field: "models", Err: fmt.Errorf("%s (%s): %w", name, redact.URL(uri), err)}
		}
	}
	return m, nil
}

// digest identifies the models' content for the job's fingerprint; "" for
// a job without models.
func (m *scriptModels) digest() string {
	if m == nil || len(m.digests) == 0 {
		return ""
	}
	var b strings.Builder
	for _, name := range slices.Sorted(maps.Keys(m.digests)) {
		b.WriteString("\x00model\x00" + name + "\x00" + m.digests[name])
	}
	return digest(b.String())
}

// ship uploads the local models under the staging store
// ("models/NAME/FILE" for a file, "models/NAME/..." for a folder) and
// notes in job.Models where workers fetch each model.
func (m *scriptModels) ship(ctx context.Context, staging objstore.Store, job *contracts.Job) error {
	if m == nil || len(m.local)+len(m.remote) == 0 {
		return nil
	}
	job.Models = map[string]string{}
	maps.Copy(job.Models, m.remote)
	for name, p := range m.local {
		st, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("shipping model %s: %w", name, err)
		}
		prefix := "models/" + name + "/"
		if !st.IsDir() {
			job.Models[name] = prefix + filepath.Base(p)
			if err := putFile(ctx, staging, job.Models[name], p); err != nil {
				return fmt.Errorf("shipping model %s: %w", name, err)
			}
			continue
		}
		job.Models[name] = prefix
		err = walkFiles(p, func(rel, full string) error {
			return putFile(ctx, staging, prefix+rel, full)
		})
		if err != nil {
			return fmt.Errorf("shipping model %s: %w", name, err)
		}
	}
	return nil
}

// localDigest digests a local file or the files of a folder.
func localDigest(p string) (string, error) {
	st, err := os.Stat(p)
	if err != nil {
		return "", fmt.Errorf("%w: %v", contracts.ErrInvalid, err)
	}
	if !st.IsDir() {
		return fileHash(p)
	}
	var b strings.Builder
	n := 0
	err = walkFiles(p, func(rel, full string) error {
		h, err := fileHash(full)
		b.WriteString(rel + "\x00" + h + "\x00")
		n++
		return err
	})
	if err == nil && n == 0 {
		err = fmt.Errorf("%w: the folder %s holds no file", contracts.ErrInvalid, p)
	}
	return digest(b.String()), err
}

// walkFiles calls fn with each regular file under dir (links followed to
// files), by its path relative to dir with "/", in lexical order.
func walkFiles(dir string, fn func(rel, full string) error) error {
	return filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		if st, err := os.Stat(p); err != nil || !st.Mode().IsRegular() {
			return err // a dangling link fails; a device or pipe is no model file
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		return fn(filepath.ToSlash(rel), p)
	})
}

// remoteDigest looks a model's URI up: one object, or the objects under it
// as a prefix; it digests their names and ETags.
func remoteDigest(ctx context.Context, stores *ledger.Stores, uri string) (string, error) {
	dir, base := splitURI(strings.TrimSuffix(uri, "/"))
	parent, err := stores.Open(ctx, dir)
	if err != nil {
		return "", err
	}
	if info, err := parent.Stat(ctx, base); err == nil {
		return digest(uri + "\x00" + info.ETag), nil
	} else if !errors.Is(err, objstore.ErrNotFound) {
		return "", err
	}
	var b strings.Builder
	err = parent.List(ctx, base+"/", func(o objstore.ObjectInfo) error {
		b.WriteString(o.Key + "\x00" + o.ETag + "\x00")
		return nil
	})
	if err == nil && b.Len() == 0 {
		err = fmt.Errorf("%w: nothing at %s", objstore.ErrNotFound, uri)
	}
	return digest(uri + "\x00" + b.String()), err
}
