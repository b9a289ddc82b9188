package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parallelrun/prs/consumer"
	"github.com/parallelrun/prs/consumer/entryscript"
	"github.com/parallelrun/prs/consumer/onnx"
	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/broker"
	"github.com/parallelrun/prs/internal/fleet"
	"github.com/parallelrun/prs/internal/jobconfig"
	"github.com/parallelrun/prs/internal/metrics"
	"github.com/parallelrun/prs/internal/objstore"
	"github.com/parallelrun/prs/internal/redact"
	"github.com/parallelrun/prs/producer"
)

// natsFlags are how to reach NATS and how to log: the flags of every
// command, prs exporter's included.
type natsFlags struct {
	nats                  *string
	user, password, token *string
	creds, nkey           *string
	tlsCA, tlsCert, key   *string
	logLevel, logFormat   *string
}

// common holds the flags the fleet's commands share: NATS, S3, the
// fleet's shape and the metrics address.
type common struct {
	*natsFlags
	s3Endpoint, s3Region *string
	ackWait              *time.Duration
	replicas             *int
	metrics              *string
}

// exporter serves the Prometheus metrics when --metrics-addr is set and
// returns the worker and producer sides (nil when off).
func (c *common) exporter(ctx context.Context, log *slog.Logger) (consumer.Metrics, producer.Metrics, error) {
	w, p, _, err := c.exporterAll(ctx, log)
	return w, p, err
}

// exporterAll is exporter with the watch's side too.
func (c *common) exporterAll(ctx context.Context, log *slog.Logger) (consumer.Metrics, producer.Metrics, *metrics.Watch, error) {
	if *c.metrics == "" {
		return nil, nil, nil, nil
	}
	reg := prometheus.NewRegistry()
	w, p, wm := metrics.NewWorker(reg), metrics.NewProducer(reg), metrics.NewWatch(reg)
	addr, err := metrics.Serve(ctx, *c.metrics, reg, log)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("--metrics-addr: %w", err)
	}
	log.Info("serving metrics", "url", "http://"+addr+"/metrics")
	return w, p, wm, nil
}

func addCommon(fs *flag.FlagSet) *common {
	return &common{
		natsFlags:  addNATS(fs),
		s3Endpoint: secretVar(fs, "s3-endpoint", "PRS_S3_ENDPOINT", "S3 endpoint `URL` such as http://127.0.0.1:9000, path-style; credentials come from the standard AWS chain", redact.URL),
		s3Region:   fs.String("s3-region", envOr("AWS_REGION", "us-east-1"), "S3 region"),
		ackWait:    fs.Duration("ack-wait", 0, "set the fleet's ack wait: how long a mini-batch may go without its worker's heartbeat before another worker takes it (default: keep it; 30s when the queue is first made)"),
		replicas:   fs.Int("replicas", 0, "JetStream replicas of the streams, the bucket and the consumer when prs first makes them (default 1; 3 on a cluster in production); when set, those that exist must have as many"),
		metrics:    fs.String("metrics-addr", "", "serve Prometheus metrics at http://ADDR/metrics (e.g. :9090; default off)"),
	}
}

func addNATS(fs *flag.FlagSet) *natsFlags {
	return &natsFlags{
		nats:      secretVar(fs, "nats", "PRS_NATS_URL", "NATS server `URL`s, comma-separated", redact.URL),
		user:      envVar(fs, "nats-user", "PRS_NATS_USER", "NATS `user`"),
		password:  secretVar(fs, "nats-password", "PRS_NATS_PASSWORD", "NATS `password` (with --nats-user)", nil),
		token:     secretVar(fs, "nats-token", "PRS_NATS_TOKEN", "NATS `token`", nil),
		creds:     envVar(fs, "nats-creds", "PRS_NATS_CREDS", "NATS credentials `file` (a user JWT and its nkey seed)"),
		nkey:      envVar(fs, "nats-nkey", "PRS_NATS_NKEY", "NATS nkey seed `file`"),
		tlsCA:     envVar(fs, "nats-tls-ca", "PRS_NATS_TLS_CA", "CA certificate `file` to trust for NATS TLS (turns TLS on)"),
		tlsCert:   envVar(fs, "nats-tls-cert", "PRS_NATS_TLS_CERT", "client certificate `file` for NATS TLS (with --nats-tls-key)"),
		key:       envVar(fs, "nats-tls-key", "PRS_NATS_TLS_KEY", "client key `file` for NATS TLS"),
		logLevel:  fs.String("log-level", "", "prs's own log level: DEBUG, INFO, WARNING (default the job's logging_level, else INFO)"),
		logFormat: fs.String("log-format", "text", "prs's own logs: text or json"),
	}
}

// connectConfig is the connection to --nats; it checks the flags that go
// together.
func (c *natsFlags) connectConfig(log *slog.Logger) (broker.ConnectConfig, error) {
	cc := broker.ConnectConfig{
		URL: *c.nats, User: *c.user, Password: *c.password, Token: *c.token, CredsFile: *c.creds, NkeyFile: *c.nkey,
		TLSCA: *c.tlsCA, TLSCert: *c.tlsCert, TLSKey: *c.key, Name: "prs", Logger: log,
	}
	if cc.URL != "" && *c.password != "" && *c.user == "" {
		return cc, fmt.Errorf("--nats-password needs --nats-user")
	}
	if cc.URL != "" && (*c.tlsCert == "") != (*c.key == "") {
		return cc, fmt.Errorf("--nats-tls-cert and --nats-tls-key go together")
	}
	return cc, nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// jobConfig reads the job's settings from the flags and files of rest,
// makes the command's logger at the level the flags or the job ask for,
// logs the settings' warnings with it and validates the settings.
func jobConfig(jf *jobconfig.Flags, cf *common, rest []string, stderr io.Writer) (cfg contracts.Config, level string, log *slog.Logger, err error) {
	if cfg, err = jf.Config(rest); err != nil {
		return cfg, "", nil, err
	}
	level = *cf.logLevel
	if level == "" {
		level = cfg.LoggingLevel
	}
	log = newLogger(stderr, level, *cf.logFormat)
	for _, w := range jf.Warnings() {
		log.Warn("config: " + w)
	}
	return cfg, level, log, cfg.Validate()
}

func newLogger(w io.Writer, level, format string) *slog.Logger {
	lv := slog.LevelInfo
	switch strings.ToUpper(level) {
	case "DEBUG":
		lv = slog.LevelDebug
	case "WARNING", "WARN":
		lv = slog.LevelWarn
	}
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// connect reaches NATS (starting the embedded server when embedded is set
// and --nats is empty), sets up the streams and opens the ledger: a fleet.
func (c *common) connect(ctx context.Context, log *slog.Logger, embedded bool, stateDir string) (*fleet.Fleet, error) {
	if *c.replicas < 0 {
		return nil, fmt.Errorf("--replicas must be 0 (1 when prs makes them) or more, got %d", *c.replicas)
	}
	cc, err := c.connectConfig(log)
	if err != nil {
		return nil, err
	}
	if cc.URL == "" && !embedded {
		return nil, fmt.Errorf("no NATS server: give --nats URL or set PRS_NATS_URL")
	}
	cfg := fleet.Config{
		Broker: broker.OpenConfig{Connect: cc, Setup: broker.SetupConfig{AckWait: *c.ackWait, Replicas: *c.replicas}},
		Stores: objstore.Options{S3Endpoint: *c.s3Endpoint, Region: *c.s3Region, Logger: log},
		Worker: workerName(), Logger: log,
	}
	if embedded {
		// The embedded server listens on loopback without TLS or
		// authentication: the NATS credentials are for --nats.
		cfg.Broker.Embedded = &broker.EmbeddedConfig{StoreDir: stateDir}
	}
	return fleet.Open(ctx, cfg)
}

// startLocalWorker starts a worker in this process (prs run and prs watch
// on the embedded server); stop drains it for up to 30s.
func startLocalWorker(ctx context.Context, f *fleet.Fleet, log *slog.Logger, slots int, stderr io.Writer, wm consumer.Metrics) (stop func(), err error) {
	w, err := consumer.New(consumer.Config{
		Ledger: f.Ledger, Handlers: handlers(log), Slots: slots, Logger: log,
		Stdout: stderr, Stderr: stderr, Metrics: wm,
	})
	if err == nil {
		err = w.Start(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("starting the worker: %w", err)
	}
	return func() {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = w.Stop(sctx)
	}, nil
}

// handlers are the handler factories a worker knows.
func handlers(log *slog.Logger) map[string]consumer.HandlerFactory {
	return map[string]consumer.HandlerFactory{
		contracts.HandlerEntryScript: entryscript.Factory(entryscript.Options{Logger: log}),
		contracts.HandlerONNX:        onnx.Factory(onnx.Options{Logger: log}),
	}
}

// preflight checks the entry script or the model before anything is
// written. With lenient set (prs submit, which may run where no worker
// does), a model check that needs what only the workers have (the ONNX
// Runtime library, the GPUs) only warns.
func preflight(lenient bool, log *slog.Logger) func(context.Context, *contracts.Config, producer.Local) error {
	return func(ctx context.Context, c *contracts.Config, local producer.Local) error {
		err := check(ctx, c, local)
		var le *onnx.LibraryError
		var pe *onnx.ProviderError
		if err != nil && lenient && (errors.As(err, &le) || errors.As(err, &pe)) {
			log.Warn("could not check the model here; the workers will", "err", err)
			return nil
		}
		return err
	}
}

func check(ctx context.Context, c *contracts.Config, local producer.Local) error {
	if c.Handler == contracts.HandlerONNX && local.Model != "" {
		return onnx.Check(ctx, c.ONNX, local.Model, "")
	}
	if c.Handler != contracts.HandlerEntryScript {
		return nil
	}
	if err := entryscript.CheckScript(ctx, c.Interpreter, local.EntryScript); err != nil {
		return &contracts.FieldError{Field: "entry_script", Err: err}
	}
	return nil
}

// workerName is host-pid-random: unique even where every container's
// process is pid 1, so that two attempts never share a result key.
func workerName() string {
	host, _ := os.Hostname()
	var b [2]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}
