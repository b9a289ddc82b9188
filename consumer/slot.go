package consumer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/resultfmt"
)

// slot runs one mini-batch at a time and keeps one handler, for the job it
// served last.
type slot struct {
	w       *Worker
	index   int
	handler Handler
	hJob    *jobRun     // the job the handler serves
	out     *lineWriter // the handler's stdout and stderr in the job's logs
	errOut  *lineWriter

	// settling counts the acks this slot runs behind it (settleLater),
	// settleSlots bounds them to settleDepth.
	settling    sync.WaitGroup
	settleSlots chan struct{}
}

func (s *slot) loop() {
	defer s.closeHandler()
	defer s.settling.Wait() // before the handler closes and the worker ends
	cons := s.w.cfg.Ledger.B.Consumer
	for !s.w.isDraining() && s.w.ctx.Err() == nil {
		if s.hJob != nil && s.hJob.ctx.Err() != nil {
			s.closeHandler() // the job ended: stop its script and free what it holds
		}
		msg, err := cons.Next(jetstream.FetchMaxWait(s.w.cfg.PollWait))
		if err != nil {
			if !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, jetstream.ErrNoMessages) {
				s.w.cfg.Logger.Debug("pulling a mini-batch", "slot", s.index, "err", err)
				select {
				case <-time.After(500 * time.Millisecond):
				case <-s.w.ctx.Done():
				case <-s.w.draining:
				}
			}
			continue
		}
		stopping := s.w.took()
		s.handleSafely(msg, stopping)
	}
}

func (s *slot) closeHandler() {
	if s.handler != nil {
		if err := closeSafely(s.handler); err != nil {
			s.w.cfg.Logger.Warn("closing handler", "job", s.hJob.job.ID, "slot", s.index, "err", err)
		}
		s.handler, s.hJob = nil, nil
		for _, lw := range []*lineWriter{s.out, s.errOut} {
			if lw != nil {
				_ = lw.Close()
			}
		}
		s.out, s.errOut = nil, nil
	}
}

// closeSafely closes h; a panic of its Close is a *PanicError.
func closeSafely(h Handler) (err error) {
	defer catchPanic("the handler's Close", &err)
	return h.Close()
}

// handleSafely is handle with a last guard: a panic outside the attempt
// (whose own panics fail it) is settled by recovered instead of ending the
// worker and every other slot's mini-batch with it.
func (s *slot) handleSafely(msg jetstream.Msg, stopping bool) {
	d := &delivery{msg: msg, log: s.w.cfg.Logger}
	d.onSettled(s.w.released)
	defer func() {
		if v := recover(); v != nil {
			s.recovered(d, v, true)
		}
		if !d.later {
			s.settled(d)
		}
	}()
	s.handle(d, stopping)
}

// settled runs a settled delivery's finishers; a panic of one (a Metrics
// passed in) is logged, not the worker's end.
func (s *slot) settled(d *delivery) {
	defer func() {
		if v := recover(); v != nil {
			s.w.cfg.Logger.Error("recovered from a panic ending a delivery", "slot", s.index,
				"job", d.mb.JobID, "batch", d.mb.Index, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
		}
	}()
	d.settled()
}

// handle settles one delivery of a message: it learns what it can, asks
// decide for the message's fate (before the attempt, and again after it
// when it ran) and has the executor carry it out. A message that reached a
// worker already stopping (stopping) goes back at once, no try spent.
func (s *slot) handle(d *delivery, stopping bool) {
	s.open(d)
	if stopping && d.f.kind == kindNone {
		d.f.kind = kindWorkerStopping
	}
	if d.f.kind == kindNone {
		m := s.w.cfg.Metrics
		m.InFlight(1)
		d.onSettled(func() { m.InFlight(-1) })
		if d.f.delivered > 1 {
			m.Redelivery()
		}
		// Keep the message alive while anything below runs, its ack too.
		hbCtx, stopHB := context.WithCancel(s.w.ctx)
		d.onSettled(stopHB)
		go heartbeat(hbCtx, d.msg, s.w.cfg.Ledger.B.HeartbeatEvery(), m, s.w.cfg.Logger)
		s.learn(d)
	}
	dec := decide(d.f)
	if dec.act == actRun {
		s.attempt(d)
		dec = decide(d.f)
	}
	if dec.act == actIsolate {
		s.execute(d, dec) // logs why
		s.isolate(d)
		dec = decide(d.f)
	}
	s.execute(d, dec)
}

// settleDepth is how many acks a slot runs behind it while it pulls and
// runs the next mini-batches: an ack is three round trips to JetStream
// (record, count, ack), which would otherwise keep the slot from its next
// mini-batch as long (a millisecond or more with a broker across a
// network); a worker that dies holds as many more messages, whose outcomes
// are recorded (their redeliveries only count and ack them).
const settleDepth = 4

// settleLater carries out d's ack (execute's actAck) on a goroutine of its
// own, once fewer than settleDepth of the slot's acks are running, and
// returns: the slot goes on with its next message. The delivery's
// finishers (its heartbeat, the worker's count of busy slots) run once the
// ack is done; a panic in it is settled as one outside the attempt.
func (s *slot) settleLater(d *delivery, dec decision, rec contracts.AttemptRecord) {
	select {
	case s.settleSlots <- struct{}{}:
	case <-s.w.ctx.Done():
		s.ack(d, dec, rec) // the worker is stopping hard: no more goroutines
		return
	}
	d.later = true
	s.settling.Add(1)
	go func() {
		defer s.settling.Done()
		defer func() { <-s.settleSlots }()
		defer s.settled(d)
		defer func() {
			if v := recover(); v != nil {
				d.now = true
				s.recovered(d, v, false)
			}
		}()
		s.ack(d, dec, rec)
	}()
}

func heartbeat(ctx context.Context, msg jetstream.Msg, every time.Duration, m Metrics, log *slog.Logger) {
	if every <= 0 {
		every = 10 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if msg.InProgress() == nil {
				countHeartbeat(m, log)
			}
		}
	}
}

// countHeartbeat tells m of a heartbeat; a panic of m (a Metrics passed
// in) is logged, and the heartbeats go on.
func countHeartbeat(m Metrics, log *slog.Logger) {
	defer func() {
		if v := recover(); v != nil {
			log.Error("recovered from a panic of Metrics.Heartbeat", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
		}
	}()
	m.Heartbeat()
}

// FormatRows renders rows as the final file's lines: a JSON string as its
// text, any other value as compact JSON, each followed by a newline.
func FormatRows(rows []json.RawMessage) []byte {
	b, _ := resultfmt.Body(resultfmt.Text, nil, rows) // never fails without columns
	return b
}
