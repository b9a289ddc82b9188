package producer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/ledger"
	"github.com/parallelrun/prs/internal/objstore"
)

// modelFiles are the files of handler onnx, and the models of the script's
// Model.get_model_path, that a job ships or points to.
type modelFiles struct {
	modelPath  string // local model file to ship ("" for a URI)
	modelHash  string
	modelETag  string // of a model given by URI
	labelsPath string // local labels file to ship ("" for none, a side input or a URI)
	labelsHash string
	script     *scriptModels // the models setting
}

// resolveModel checks handler onnx's model and labels and digests the
// model, and the script's models.
func resolveModel(ctx context.Context, stores *ledger.Stores, c *contracts.Config) (*modelFiles, error) {
	m := &modelFiles{}
	var err error
	if m.script, err = resolveScriptModels(ctx, stores, c); err != nil {
		return nil, err
	}
	if c.Handler != contracts.HandlerONNX || c.ONNX == nil {
		return m, nil
	}
	uri := c.ONNX.Model
	if strings.HasPrefix(uri, "s3://") {
		dir, base := splitURI(uri)
		s, err := stores.Open(ctx, dir)
		if err != nil {
			return nil, &contracts.FieldError{Field: "onnx.model", Err: err}
		}
		info, err := s.Stat(ctx, base)
		if err != nil {
			return nil, &contracts.FieldError{Field: "onnx.model", Err: err}
		}
		m.modelHash, m.modelETag = digest(uri+"\x00"+info.ETag), info.ETag
	} else {
		p := strings.TrimPrefix(uri, "file://")
		h, err := fileHash(p)
		if err != nil {
			return nil, &contracts.FieldError{Field: "onnx.model", Err: fmt.Errorf("%w: %v", contracts.ErrInvalid, err)}
		}
		m.modelPath, m.modelHash = p, h
	}
	if l := c.ONNX.Labels; l != "" && c.SideInputs[l] == "" && !strings.HasPrefix(l, "s3://") {
		p := strings.TrimPrefix(l, "file://")
		h, err := fileHash(p)
		if err != nil {
			return nil, &contracts.FieldError{Field: "onnx.labels", Err: fmt.Errorf("%w: %v", contracts.ErrInvalid, err)}
		}
		m.labelsPath, m.labelsHash = p, h
	}
	return m, nil
}

// digest identifies the model's and labels' content for the fingerprint.
func (m *modelFiles) digest() string {
	return m.modelHash + "\x00" + m.labelsHash + m.script.digest()
}

// ship uploads the local files under the staging store and notes where
// workers find them.
func (m *modelFiles) ship(ctx context.Context, staging objstore.Store, job *contracts.Job) error {
	if err := m.script.ship(ctx, staging, job); err != nil {
		return err
	}
	if m.modelHash == "" {
		return nil
	}
	job.ModelHash, job.ModelETag = m.modelHash, m.modelETag
	job.ModelKey = job.Config.ONNX.Model
	if m.modelPath != "" {
		job.ModelKey = "model/" + filepath.Base(m.modelPath)
		if err := putFile(ctx, staging, job.ModelKey, m.modelPath); err != nil {
			return fmt.Errorf("shipping the model: %w", err)
		}
	}
	if m.labelsPath != "" {
		job.LabelsKey = "labels/" + filepath.Base(m.labelsPath)
		if err := putFile(ctx, staging, job.LabelsKey, m.labelsPath); err != nil {
			return fmt.Errorf("shipping the labels: %w", err)
		}
	}
	return nil
}

func putFile(ctx context.Context, s objstore.Store, key, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return s.Put(ctx, key, f)
}

func fileHash(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func digest(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// splitURI cuts an object URI into its folder's URI and the object's name.
func splitURI(uri string) (string, string) {
	i := strings.LastIndex(uri, "/")
	return uri[:i], uri[i+1:]
}
