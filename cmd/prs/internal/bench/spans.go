package bench

import (
	"context"
	"sync"
	"time"

	"github.com/parallelrun/prs/consumer"
)

// spans records when the pipeline's handlers run, to split a job's time
// into its start and its steady part. Recording is a lock and an append per
// mini-batch, next to a model run of milliseconds at least.
type spans struct {
	mu   sync.Mutex
	runs []span
}

// span is one handler call: Init or Run.
type span struct {
	job        string
	slot       int
	init       bool
	start, end time.Time
	items      int
}

func (s *spans) add(sp span) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.runs = append(s.runs, sp)
}

// of returns the spans of job.
func (s *spans) of(job string) []span {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []span
	for _, sp := range s.runs {
		if sp.job == job {
			out = append(out, sp)
		}
	}
	return out
}

// factory wraps f so that its handlers record their calls.
func (s *spans) factory(f consumer.HandlerFactory) consumer.HandlerFactory {
	return func(ctx context.Context, env *consumer.JobEnv) (consumer.Handler, error) {
		h, err := f(ctx, env)
		if err != nil {
			return nil, err
		}
		return &timed{Handler: h, s: s, job: env.Job.ID, slot: env.Slot}, nil
	}
}

// timed is a handler that records its calls.
type timed struct {
	consumer.Handler
	s    *spans
	job  string
	slot int
}

func (t *timed) Init(ctx context.Context) error {
	start := time.Now()
	err := t.Handler.Init(ctx)
	t.s.add(span{job: t.job, slot: t.slot, init: true, start: start, end: time.Now()})
	return err
}

func (t *timed) Run(ctx context.Context, b *consumer.Batch) (consumer.Result, error) {
	start := time.Now()
	res, err := t.Handler.Run(ctx, b)
	t.s.add(span{job: t.job, slot: t.slot, start: start, end: time.Now(), items: len(res.Rows)})
	return res, err
}
