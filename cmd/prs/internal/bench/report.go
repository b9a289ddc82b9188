package bench

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/parallelrun/prs/contracts"
)

// Stage is one stage's figure.
type Stage struct {
	// Images were scored in Seconds, at PerSecond images a second.
	Images    int     `json:"images"`
	Seconds   float64 `json:"seconds"`
	PerSecond float64 `json:"images_per_second"`
	// Start is the time spent before the clock started: opening the
	// session and warming up.
	Start float64 `json:"start_seconds,omitempty"`
}

func (s *Stage) set(n int, d time.Duration) {
	s.Images, s.Seconds = n, d.Seconds()
	if s.Seconds > 0 {
		s.PerSecond = float64(n) / s.Seconds
	}
}

// PipelineStage is the pipeline's figure, from Submit to the Completed
// state, with its parts. Times are seconds from the start of Submit.
type PipelineStage struct {
	Stage
	// Submit is Submit's own time: preflight, shipping the model, listing
	// the input, publishing the mini-batches (the worker starts on the
	// first ones meanwhile).
	Submit float64 `json:"submit_seconds"`
	// SessionStart is the longest first Init of a slot's handler: opening
	// its ONNX Runtime session (a job opens its own).
	SessionStart float64 `json:"session_start_seconds"`
	// FirstResult and LastResult are when the first and the last
	// mini-batch's Run ended.
	FirstResult float64 `json:"first_result_seconds"`
	LastResult  float64 `json:"last_result_seconds"`
	// Steady leaves the job's start out: the items of the mini-batches that
	// started once every slot had finished its first one, over the time
	// from then to the Completed state. Zero when there were none.
	Steady Stage `json:"steady"`
}

// timeline fills the parts from the job's handler calls; t0 is Submit's
// start and done when the Completed state was seen.
func (p *PipelineStage) timeline(calls []span, t0, done time.Time) {
	firstEnd := map[int]time.Time{} // per slot: its first Run's end
	initDone := map[int]bool{}
	var first, last time.Time
	for _, c := range calls {
		if c.init {
			if !initDone[c.slot] {
				initDone[c.slot] = true
				p.SessionStart = max(p.SessionStart, c.end.Sub(c.start).Seconds())
			}
			continue
		}
		if e, ok := firstEnd[c.slot]; !ok || c.end.Before(e) {
			firstEnd[c.slot] = c.end
		}
		if first.IsZero() || c.end.Before(first) {
			first = c.end
		}
		if c.end.After(last) {
			last = c.end
		}
	}
	if first.IsZero() {
		return
	}
	p.FirstResult, p.LastResult = first.Sub(t0).Seconds(), last.Sub(t0).Seconds()
	var ready time.Time
	for _, e := range firstEnd {
		if e.After(ready) {
			ready = e
		}
	}
	items := 0
	for _, c := range calls {
		if !c.init && !c.start.Before(ready) {
			items += c.items
		}
	}
	if items > 0 {
		p.Steady.set(items, done.Sub(ready))
	}
}

// Result is what Run measured.
type Result struct {
	Model      string `json:"model"`
	Input      string `json:"input"`
	Output     string `json:"output"`
	Provider   string `json:"execution_provider"`
	DeviceIDs  []int  `json:"device_ids"`
	Library    string `json:"library"`
	ORTVersion string `json:"ort_version"`
	CPU        string `json:"cpu"`
	CPUs       int    `json:"cpus"`
	GOMAXPROCS int    `json:"gomaxprocs"`

	Images      int `json:"images"`
	Size        int `json:"size"`
	ImageWidth  int `json:"image_width"`
	ImageHeight int `json:"image_height"`
	ResizeTo    int `json:"resize_to,omitempty"`
	Quality     int `json:"quality"`
	// JPEGDecoder is the decoder the handlers use, as resolved here.
	JPEGDecoder    string                `json:"jpeg_decoder"`
	IOBinding      bool                  `json:"io_binding"`
	CUDA           contracts.CUDAOptions `json:"cuda,omitzero"`
	MeanJPEGBytes  int64                 `json:"mean_jpeg_bytes"`
	GenerateTime   float64               `json:"generate_seconds"`
	ModelBatchSize int                   `json:"model_batch_size"`
	MiniBatchSize  int                   `json:"mini_batch_size"`
	Slots          int                   `json:"slots"`
	IntraOpThreads int                   `json:"intra_op_threads"`

	// Decode is the handler with a probe model that only reads its input,
	// on the CPU: reading, decoding and preprocessing.
	Decode Stage `json:"decode"`
	// Raw is the model alone on tensors built beforehand.
	Raw Stage `json:"raw"`
	// Handler is the handler called directly, one slot, no broker.
	Handler Stage `json:"handler"`
	// Pipeline is the whole job, Submit to Completed.
	Pipeline PipelineStage `json:"pipeline"`
	// Ratio is Pipeline's images/s over Raw's: the headline figure.
	Ratio float64 `json:"ratio"`
	// SteadyRatio is Pipeline.Steady's over Raw's; HandlerRatio
	// Handler's over Raw's.
	SteadyRatio  float64 `json:"steady_ratio"`
	HandlerRatio float64 `json:"handler_ratio"`
	// WorkDir is the kept work folder ("" when it was removed).
	WorkDir string   `json:"work_dir,omitempty"`
	Notes   []string `json:"notes,omitempty"`
}

func ratio(a, b float64) float64 {
	if b <= 0 {
		return 0
	}
	return a / b
}

func (r *Result) ratios() {
	r.Ratio = ratio(r.Pipeline.PerSecond, r.Raw.PerSecond)
	r.SteadyRatio = ratio(r.Pipeline.Steady.PerSecond, r.Raw.PerSecond)
	r.HandlerRatio = ratio(r.Handler.PerSecond, r.Raw.PerSecond)
}

// Print writes the report for people.
func (r *Result) Print(w io.Writer) {
	dev := "the CPU"
	if r.Provider != "cpu" {
		dev = fmt.Sprintf("device %v", r.DeviceIDs)
	}
	threads := "ORT's default"
	if r.IntraOpThreads > 0 {
		threads = fmt.Sprint(r.IntraOpThreads)
	}
	fmt.Fprintf(w, "prs bench onnx\n")
	fmt.Fprintf(w, "  model       %s\n", r.Model)
	fmt.Fprintf(w, "              input %s, output %s\n", r.Input, r.Output)
	fmt.Fprintf(w, "  provider    %s on %s (ONNX Runtime %s, %s; intra-op threads %s)\n", r.Provider, dev, r.ORTVersion, r.Library, threads)
	fmt.Fprintf(w, "  host        %s, %d CPUs, GOMAXPROCS %d\n", r.CPU, r.CPUs, r.GOMAXPROCS)
	fmt.Fprintf(w, "  images      %d JPEG %dx%d, quality %d, %.1f KB on average (made in %.1fs)\n",
		r.Images, r.ImageWidth, r.ImageHeight, r.Quality, float64(r.MeanJPEGBytes)/1000, r.GenerateTime)
	resize := "none"
	if r.ResizeTo > 0 {
		resize = fmt.Sprintf("shorter side to %d, centre crop %dx%d", r.ResizeTo, r.Size, r.Size)
	}
	fmt.Fprintf(w, "  preprocess  resize %s; JPEG decoder %s\n", resize, r.JPEGDecoder)
	fmt.Fprintf(w, "  options     io_binding %v, cuda %s\n", r.IOBinding, r.cudaText())
	fmt.Fprintf(w, "  batches     model_batch_size %d, mini_batch_size %d, slots %d\n\n", r.ModelBatchSize, r.MiniBatchSize, r.Slots)

	const rowFmt = "  %-52s %10s %8s %9s  %s\n"
	fmt.Fprintf(w, rowFmt, "stage", "images/s", "of raw", "timed", "before the clock")
	row := func(name string, s Stage, of float64, before string) {
		pct := ""
		if of > 0 {
			pct = fmt.Sprintf("%.1f%%", 100*of)
		}
		fmt.Fprintf(w, rowFmt, name, fmt.Sprintf("%.1f", s.PerSecond), pct, fmt.Sprintf("%.2fs", s.Seconds), before)
	}
	secs := func(v float64) string { return fmt.Sprintf("%.2fs (session, warm-up)", v) }
	row("decode+preprocess only (handler, probe model, CPU)", r.Decode, 0, secs(r.Decode.Start))
	row("raw model (pre-built tensors, 1 session)", r.Raw, 1, secs(r.Raw.Start))
	row("handler, called directly (1 slot, no broker)", r.Handler, r.HandlerRatio, secs(r.Handler.Start))
	row("pipeline, Submit to Completed", r.Pipeline.Stage, r.Ratio, "a warm-up job")
	if r.Pipeline.Steady.Images > 0 {
		row(fmt.Sprintf("pipeline after the job's start (%d images)", r.Pipeline.Steady.Images), r.Pipeline.Steady, r.SteadyRatio, "")
	}
	p := r.Pipeline
	fmt.Fprintf(w, "\n  pipeline timeline (s from Submit): Submit returned %.2f, slowest session opening %.2f, first mini-batch done %.2f, last %.2f, Completed %.2f\n",
		p.Submit, p.SessionStart, p.FirstResult, p.LastResult, p.Seconds)
	fmt.Fprintf(w, "\n  raw            %.1f images/s\n", r.Raw.PerSecond)
	fmt.Fprintf(w, "  pipeline       %.1f images/s\n", r.Pipeline.PerSecond)
	fmt.Fprintf(w, "  ratio          %.3f (pipeline / raw)\n", r.Ratio)
	for _, n := range r.Notes {
		fmt.Fprintf(w, "  note: %s\n", n)
	}
	if r.WorkDir != "" {
		fmt.Fprintf(w, "  kept %s\n", r.WorkDir)
	}
}

// cudaText is onnx.cuda as set, "default" when nothing is.
func (r *Result) cudaText() string {
	var s []string
	o := r.CUDA
	if o.PreferNHWC {
		s = append(s, "prefer_nhwc 1")
	}
	if o.CuDNNConvAlgoSearch != "" {
		s = append(s, "cudnn_conv_algo_search "+o.CuDNNConvAlgoSearch)
	}
	if o.ArenaExtendStrategy != "" {
		s = append(s, "arena_extend_strategy "+o.ArenaExtendStrategy)
	}
	if o.GPUMemLimit != "" {
		s = append(s, "gpu_mem_limit "+o.GPUMemLimit)
	}
	if len(s) == 0 {
		return "default"
	}
	return strings.Join(s, ", ")
}

// limits names what bounds the pipeline, from the stages' figures.
func (r *Result) limits() string {
	var s []string
	if r.Decode.PerSecond > 0 && r.Decode.PerSecond < 1.2*r.Raw.PerSecond {
		s = append(s, fmt.Sprintf("decoding and preprocessing on this host's CPUs (%.0f images/s) is slower than the model alone, or within 20%% of it: it bounds the handler and the pipeline",
			r.Decode.PerSecond))
	}
	// The job's start costs what the job took beyond its steady rate.
	if p := r.Pipeline; p.Seconds > 0 && p.Steady.PerSecond > 0 {
		if extra := p.Seconds - float64(p.Images)/p.Steady.PerSecond; extra > 0.1*p.Seconds {
			s = append(s, fmt.Sprintf("the job's start (Submit with its preflight, a session per slot, first runs) costs %.2fs, %.0f%% of the job; more images make that share smaller",
				extra, 100*extra/p.Seconds))
		}
	}
	return strings.Join(s, "; ")
}
