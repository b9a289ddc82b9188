package consumer

import (
	"context"
	"fmt"
	"path"
	"path/filepath"
	"strings"

	"github.com/parallelrun/prs/internal/objstore"
)

// fetchScriptModels gives each of the job's models (the script's
// Model.get_model_path) a local path, once per worker and job: a shipped
// file or folder from the job's staging root, an s3:// object or prefix
// from where it is.
func (w *Worker) fetchScriptModels(ctx context.Context, jr *jobRun) (map[string]string, error) {
	out := make(map[string]string, len(jr.job.Models))
	for name, where := range jr.job.Models {
		dst := filepath.Join(jr.dir, "models", name)
		var (
			p   string
			err error
		)
		switch {
		case strings.HasPrefix(where, "s3://"):
			p, err = w.fetchURI(ctx, where, dst)
		case strings.HasSuffix(where, "/"):
			p, err = dst, fetchPrefix(ctx, jr.staging, where, dst)
		default:
			p = filepath.Join(dst, path.Base(where))
			err = objstore.Download(ctx, jr.staging, where, p)
		}
		if err != nil {
			return nil, fmt.Errorf("fetching model %s (%s): %w", name, where, err)
		}
		out[name] = p
	}
	return out, nil
}
