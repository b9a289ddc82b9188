package onnx

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/parallelrun/prs/consumer"
	"github.com/parallelrun/prs/contracts"
)

// handler scores a job's mini-batches with one ORT session.
type handler struct {
	opts   Options
	log    *slog.Logger
	cfg    *contracts.ONNXConfig
	model  string // local path of the .onnx file
	labels string // local path of the labels file, "" for none
	device int

	mu     sync.Mutex
	closed bool
	s      *session // nil until Init succeeds
}

// Factory returns a consumer.HandlerFactory that builds handlers with New.
func Factory(opts Options) consumer.HandlerFactory {
	return func(ctx context.Context, env *consumer.JobEnv) (consumer.Handler, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		return New(env, opts)
	}
}

// New returns the handler of env's job (handler onnx) for env's slot. It
// checks the settings it can check without the model and loads nothing:
// Init loads the library and the model and opens the slot's session.
//
// Init is cheap once it has succeeded, so a runtime may call it before
// every Run; Run calls it itself when it has not run. Init, Run and Close
// are serialized: Close waits for a Run in progress, so end that Run's
// context first.
func New(env *consumer.JobEnv, opts Options) (consumer.Handler, error) {
	if env == nil || env.Job == nil {
		return nil, errors.New("onnx: no JobEnv or job")
	}
	cfg := env.Job.Config.ONNX
	if cfg == nil {
		return nil, &contracts.FieldError{Field: "onnx", Err: fmt.Errorf("%w: is required with handler onnx", contracts.ErrInvalid)}
	}
	if err := inputKind(&env.Job.Config); err != nil {
		return nil, err
	}
	if _, err := newPost(cfg.Postprocess, nil); err != nil {
		return nil, err
	}
	opts = opts.withDefaults(cfg.Library)
	h := &handler{
		opts: opts, cfg: cfg, model: env.Model, labels: env.Labels,
		device: deviceID(cfg, env.Slot),
	}
	if h.model == "" {
		h.model = cfg.Model
	}
	h.log = opts.Logger.With("job", env.Job.ID, "slot", env.Slot, "handler", contracts.HandlerONNX)
	return h, nil
}

// Init loads the library and the model and opens the session, once.
func (h *handler) Init(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.init(ctx)
}

func (h *handler) init(ctx context.Context) error {
	if h.closed {
		return ErrClosed
	}
	if h.s != nil {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s, err := h.open()
	if err != nil {
		return &consumer.InitError{Err: err}
	}
	h.s = s
	return nil
}

func (h *handler) open() (*session, error) {
	if err := loadLibrary(h.opts.Library); err != nil {
		return nil, err
	}
	in, out, err := modelInfo(h.model)
	if err != nil {
		return nil, err
	}
	p, err := newPlan(h.cfg, h.model, in, out)
	if err != nil {
		return nil, err
	}
	decoder := "none"
	if p.kind == kindImage {
		lib, fallback, err := jpegDecoder(h.cfg.Preprocess.JPEGDecoder)
		if err != nil {
			return nil, err
		}
		p.turbo, decoder = lib, "go"
		if lib != nil {
			decoder = "libjpeg-turbo " + lib.Path()
		}
		if fallback != nil {
			h.log.Info("JPEG images decode with Go's image/jpeg: libjpeg-turbo did not load", "err", fallback, "hint", TurboJPEGHint)
		}
	}
	if p.fixedBatch > 0 && h.cfg.ModelBatchSize > 0 && h.cfg.ModelBatchSize != p.fixedBatch {
		h.log.Warn("the model's batch dimension is fixed: model_batch_size does not apply",
			"model_batch_size", h.cfg.ModelBatchSize, "batch", p.fixedBatch)
	}
	var labels []string
	if h.labels != "" {
		if labels, err = readLabels(h.labels); err != nil {
			return nil, err
		}
		if p.outLen > 0 && len(labels) != p.outLen {
			h.log.Warn("the labels file does not have one label per output value",
				"labels", len(labels), "outputs", p.outLen, "file", h.labels)
		}
	}
	post, err := newPost(h.cfg.Postprocess, labels)
	if err != nil {
		return nil, err
	}
	post.key = p.rowKey
	sess, err := newSession(h.cfg, h.model, p, h.device)
	if err != nil {
		return nil, err
	}
	s, err := newSessionState(p, post, sess, h.opts.DecodeWorkers)
	if err != nil {
		_ = sess.Destroy()
		return nil, err
	}
	h.log.Info("ONNX Runtime session ready", "model", h.model, "plan", p.String(),
		"execution_provider", provider(h.cfg), "device", h.device, "library", h.opts.Library, "ort", ort.GetVersion(),
		"jpeg_decoder", decoder, "io_binding", p.ioBinding)
	return s, nil
}

// Run scores b: one row per item (file or table row) that decodes, in
// item order; an item that does not decode gets no row and an ItemError.
func (h *handler) Run(ctx context.Context, b *consumer.Batch) (consumer.Result, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.init(ctx); err != nil {
		return consumer.Result{}, err
	}
	return h.s.run(ctx, b)
}

// Close frees the session; the handler cannot run again.
func (h *handler) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	if h.s == nil {
		return nil
	}
	err := h.s.close()
	h.s = nil
	return err
}

// inputKind checks that the preprocessing kind fits the job's input:
// tabular for a tabular input, image or npy for files.
func inputKind(c *contracts.Config) error {
	kind := c.ONNX.Preprocess.Kind
	switch {
	case kind == kindTabular && !c.Tabular():
		return &contracts.FieldError{Field: "onnx.preprocess.kind", Err: fmt.Errorf("%w: kind tabular scores the rows of a tabular input, but input %q is files", contracts.ErrInvalid, c.Input)}
	case kind != kindTabular && c.Tabular():
		return &contracts.FieldError{Field: "onnx.preprocess.kind", Err: fmt.Errorf("%w: kind %q scores files, but input %q is tabular: use kind tabular with onnx.preprocess.columns", contracts.ErrInvalid, kind, c.Input)}
	}
	return nil
}
