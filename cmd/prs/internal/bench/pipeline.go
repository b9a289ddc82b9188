package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/parallelrun/prs/consumer"
	"github.com/parallelrun/prs/consumer/onnx"
	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/broker"
	"github.com/parallelrun/prs/internal/fleet"
	"github.com/parallelrun/prs/internal/ledger"
	"github.com/parallelrun/prs/internal/objstore"
	"github.com/parallelrun/prs/producer"
)

// pipeline is prs run's machinery in this process: an embedded JetStream
// server, the ledger, a worker whose onnx handlers are timed, a producer.
type pipeline struct {
	c      *Config
	dir    string
	onnx   *contracts.ONNXConfig
	fleet  *fleet.Fleet
	h      *broker.Handles
	ledger *ledger.Ledger
	worker *consumer.Worker
	prod   *producer.Producer
	spans  *spans
}

// defaultPreflight is prs run's preflight for handler onnx.
func defaultPreflight(ctx context.Context, c *contracts.Config, local producer.Local) error {
	if c.Handler == contracts.HandlerONNX && local.Model != "" {
		return onnx.Check(ctx, c.ONNX, local.Model, "")
	}
	return nil
}

// startPipeline starts the server (its files under dir), the worker with
// c.Slots slots and the producer.
func startPipeline(ctx context.Context, c *Config, dir string, cfg *contracts.ONNXConfig) (_ *pipeline, err error) {
	p := &pipeline{c: c, dir: dir, onnx: cfg, spans: &spans{}}
	defer func() {
		if err != nil {
			p.close()
		}
	}()
	host, _ := os.Hostname()
	p.fleet, err = fleet.Open(ctx, fleet.Config{
		Broker: broker.OpenConfig{
			Connect:  broker.ConnectConfig{Name: "prs-bench", Logger: c.Logger},
			Embedded: &broker.EmbeddedConfig{StoreDir: filepath.Join(dir, "jetstream")},
		},
		Stores: objstore.Options{Logger: c.Logger},
		Worker: fmt.Sprintf("bench-%s-%d", host, os.Getpid()), Logger: c.Logger,
	})
	if err != nil {
		return nil, err
	}
	p.h, p.ledger = p.fleet.Handles, p.fleet.Ledger
	factory := onnx.Factory(onnx.Options{Library: cfg.Library, Logger: c.Logger})
	p.worker, err = consumer.New(consumer.Config{
		Ledger:   p.ledger,
		Handlers: map[string]consumer.HandlerFactory{contracts.HandlerONNX: p.spans.factory(factory)},
		Slots:    c.Slots, WorkDir: filepath.Join(dir, "worker"), Logger: c.Logger,
		Stdout: io.Discard, Stderr: io.Discard,
	})
	if err != nil {
		return nil, err
	}
	if err := p.worker.Start(ctx); err != nil {
		p.worker = nil
		return nil, fmt.Errorf("starting the worker: %w", err)
	}
	preflight := c.Preflight
	if preflight == nil {
		preflight = defaultPreflight
	}
	if p.prod, err = producer.New(producer.Config{Ledger: p.ledger, Preflight: preflight, Logger: c.Logger}); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *pipeline) close() {
	if p.worker != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_ = p.worker.Stop(ctx)
		cancel()
	}
	if p.fleet != nil {
		p.fleet.Close()
	}
}

// jobConfig is the job of handler onnx over the JPEG files in input, rows
// to output.
func (p *pipeline) jobConfig(input, output string) contracts.Config {
	cfg := contracts.DefaultConfig()
	cfg.Handler = contracts.HandlerONNX
	cfg.Input, cfg.Output = input, output
	cfg.Include = []string{"*.jpg"}
	cfg.MiniBatchSize = fmt.Sprint(p.c.MiniBatchSize)
	cfg.ProcessCountPerNode = p.c.Slots
	cfg.ErrorThreshold = 0 // a failed item fails the benchmark
	cfg.RunMaxTry = 1
	cfg.RunInvocationTimeout = 3600
	cfg.AllowReuse = false
	cfg.LoggingLevel = "WARNING"
	o := *p.onnx
	cfg.ONNX = &o
	return cfg
}

// job submits a job over the n files in input and waits for it to complete.
func (p *pipeline) job(ctx context.Context, input, output string, n int) (PipelineStage, error) {
	var st PipelineStage
	id := producer.NewJobID()
	w, err := p.h.Jobs.Watch(ctx, contracts.StateKey(id))
	if err != nil {
		return st, err
	}
	defer func() { _ = w.Stop() }()
	cfg := p.jobConfig(input, output)
	t0 := time.Now()
	sub, err := p.prod.Submit(ctx, id, cfg)
	if err != nil {
		return st, fmt.Errorf("submitting the job: %w", err)
	}
	submitted := time.Now()
	if sub.Reused || sub.Resumed {
		return st, fmt.Errorf("job %s was not run afresh (reused %v, resumed %v)", id, sub.Reused, sub.Resumed)
	}
	js, err := waitEnd(ctx, w, id)
	done := time.Now()
	if err != nil {
		return st, err
	}
	if js.State != contracts.StateCompleted {
		return st, p.failure(id, js)
	}
	cs, err := p.h.ReadCounters(ctx, id)
	if err != nil {
		return st, err
	}
	if cs.ItemsSucceeded != int64(n) || cs.ItemsFailed != 0 || cs.FailedBatches != 0 {
		return st, fmt.Errorf("job %s completed with %d items scored and %d failed, want %d scored", id, cs.ItemsSucceeded, cs.ItemsFailed, n)
	}
	if err := checkRows(filepath.Join(output, cfg.AppendRowFileName), n); err != nil {
		return st, fmt.Errorf("job %s: %w", id, err)
	}
	st.set(n, done.Sub(t0))
	st.Submit = submitted.Sub(t0).Seconds()
	st.timeline(p.spans.of(id), t0, done)
	return st, nil
}

// waitEnd waits on the watch of the job's state key (no polling delay)
// until the job ends.
func waitEnd(ctx context.Context, w jetstream.KeyWatcher, id string) (contracts.JobState, error) {
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				return contracts.JobState{}, fmt.Errorf("job %s: the state watch closed", id)
			}
			if e == nil || e.Operation() != jetstream.KeyValuePut {
				continue
			}
			var st contracts.JobState
			if err := json.Unmarshal(e.Value(), &st); err != nil {
				return st, fmt.Errorf("job %s: state: %w", id, err)
			}
			if st.Terminal() {
				return st, nil
			}
		case <-ctx.Done():
			return contracts.JobState{}, fmt.Errorf("job %s did not end: %w", id, ctx.Err())
		}
	}
}

// failure is the error of a job that did not complete, with its first
// failed mini-batch.
func (p *pipeline) failure(id string, st contracts.JobState) error {
	err := fmt.Errorf("job %s ended %s: %s", id, st.State, st.Reason)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if failed, _, ferr := p.ledger.FailedOutcomes(ctx, id, 1); ferr == nil && len(failed) > 0 {
		err = fmt.Errorf("%w; mini-batch %d: %s: %s", err, failed[0].Index, failed[0].ErrorType, failed[0].Error)
	}
	return err
}

// checkRows checks that the final file has n rows, the first for the first
// image.
func checkRows(path string, n int) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	rows := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(rows) != n || !strings.HasPrefix(rows[0], imageName(0)+": ") {
		return fmt.Errorf("%s has %d rows (first %q), want %d starting with %q", path, len(rows), rows[0], n, imageName(0)+": ")
	}
	return nil
}
