package consumer_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/parallelrun/prs/consumer"
	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/producer"
)

// TestModelsReachTheScript: a job's models, a local file and a local
// folder, are shipped with the job and reach the handler as local paths
// by name; a model whose content changes makes a resubmission of the job a
// changed job.
func TestModelsReachTheScript(t *testing.T) {
	t.Parallel()
	b := newBundle(t, 2)
	dir := t.TempDir()
	file := filepath.Join(dir, "iris_model.pkl")
	folder := filepath.Join(dir, "mnist")
	for p, content := range map[string]string{file: "iris weights", filepath.Join(folder, "model.meta"): "meta",
		filepath.Join(folder, "sub", "model.bin"): "bin"} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	read := func(p string) string {
		data, err := os.ReadFile(p)
		if err != nil {
			return "missing: " + err.Error()
		}
		return string(data)
	}
	factory := func(_ context.Context, env *consumer.JobEnv) (consumer.Handler, error) {
		return consumer.HandlerFunc(func(_ context.Context, bt *consumer.Batch) (consumer.Result, error) {
			var r consumer.Result
			for range bt.Paths {
				row, _ := json.Marshal(read(env.Models["iris-prs"]) + "|" + filepath.Base(env.Models["iris-prs"]) + "|" +
					read(filepath.Join(env.Models["mnist-prs"], "model.meta")) + "|" + read(filepath.Join(env.Models["mnist-prs"], "sub", "model.bin")))
				r.Rows = append(r.Rows, row)
			}
			return r, nil
		}), nil
	}
	b.workerWith(1, nil, func(c *consumer.Config) { c.Handlers = map[string]consumer.HandlerFactory{"test": factory} })
	c := b.config(1)
	c.Models = map[string]string{"iris-prs": file, "mnist-prs": folder}
	id, st, _ := b.run(c)
	if st.State != contracts.StateCompleted {
		t.Fatalf("state %+v", st)
	}
	want := []string{"iris weights|iris_model.pkl|meta|bin", "iris weights|iris_model.pkl|meta|bin"}
	if got := b.rows(c.AppendRowFileName); !slices.Equal(got, want) {
		t.Fatalf("rows %q, want %q", got, want)
	}
	if err := os.WriteFile(filepath.Join(folder, "sub", "model.bin"), []byte("retrained"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := b.prod.Submit(ctx, id, c); !errors.Is(err, producer.ErrChanged) {
		t.Fatalf("resubmitting the job with a changed model: %v, want ErrChanged", err)
	}
	c.Models["gone"] = filepath.Join(dir, "nothing-here")
	var fe *contracts.FieldError
	if _, err := b.prod.Submit(ctx, "", c); !errors.As(err, &fe) || fe.Field != "models" {
		t.Fatalf("a model that does not exist: %v, want an error naming models", err)
	}
}
