package entryscript_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/parallelrun/prs/consumer"
	"github.com/parallelrun/prs/consumer/entryscript"
	"github.com/parallelrun/prs/contracts"
)

func ExampleNew() {
	dir, err := os.MkdirTemp("", "example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	script := filepath.Join(dir, "score.py")
	err = os.WriteFile(script, []byte(`
import argparse
import os

from azureml_user.parallel_run import EntryScript

def init():
    global threshold
    parser = argparse.ArgumentParser()
    parser.add_argument("--threshold", type=float)
    args, _ = parser.parse_known_args()
    threshold = args.threshold
    EntryScript().logger.info("threshold %s", threshold)

def run(mini_batch):
    return ["%s %s" % (os.path.basename(p), threshold) for p in mini_batch]
`), 0o644)
	if err != nil {
		panic(err)
	}

	job := &contracts.Job{ID: "example", Config: contracts.DefaultConfig()}
	job.Config.Arguments = []string{"--threshold", "0.5"}
	h, err := entryscript.New(&consumer.JobEnv{
		Job:         job,
		SourceDir:   dir,
		EntryScript: script,
		WorkDir:     dir,
	}, entryscript.Options{})
	if err != nil {
		panic(err)
	}
	defer h.Close()

	res, err := h.Run(context.Background(), &consumer.Batch{JobID: "example", Paths: []string{"a.png", "b.png"}})
	if err != nil {
		panic(err)
	}
	for _, row := range res.Rows {
		fmt.Println(string(row))
	}
	// Output:
	// "a.png 0.5"
	// "b.png 0.5"
}

func ExampleCheckScript() {
	dir, err := os.MkdirTemp("", "example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	script := filepath.Join(dir, "score.py")
	if err := os.WriteFile(script, []byte("def init():\n    pass\n"), 0o644); err != nil {
		panic(err)
	}
	err = entryscript.CheckScript(context.Background(), "python3", script)
	fmt.Println(errors.Is(err, entryscript.ErrNoRun))
	// Output: true
}
