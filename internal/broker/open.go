package broker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/parallelrun/prs/internal/redact"
)

// OpenConfig says how Open reaches JetStream.
type OpenConfig struct {
	// Connect reaches an external NATS server. When its URL is empty and
	// Embedded is set, Open starts a server in this process and connects
	// to it with Connect's Name, Timeout and Logger only: the embedded
	// server listens on loopback without TLS or authentication.
	Connect ConnectConfig
	// Embedded configures the in-process server (nil: none; Connect.URL is
	// then required). Its StoreDir empty: a temporary folder, removed by
	// Close.
	Embedded *EmbeddedConfig
	// Setup shapes the streams, bucket and consumer where Open creates them.
	Setup SetupConfig
	// SetupTimeout bounds Setup (default 15s).
	SetupTimeout time.Duration
}

// ErrNoServer means Open was given neither a URL nor an embedded server.
var ErrNoServer = errors.New("no NATS server: no URL, and no embedded server")

// Session is a connection to JetStream with prs's streams, bucket and
// worker consumer set up, and the embedded server it runs, if any.
type Session struct {
	// Server is the embedded server (nil for an external one).
	Server *server.Server
	// URL is the server's URL as Open reached it (for local worker
	// processes of an embedded server).
	URL     string
	Conn    *nats.Conn
	Handles *Handles
	tmp     string
}

// Open is the one way to reach prs's JetStream side: it starts the
// embedded server when asked, connects, and sets up the streams, the
// bucket and the worker consumer (Setup). Close undoes it.
func Open(ctx context.Context, cfg OpenConfig) (_ *Session, err error) {
	s := &Session{}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	cc := cfg.Connect
	switch {
	case cc.URL != "":
	case cfg.Embedded == nil:
		return nil, ErrNoServer
	default:
		ec := *cfg.Embedded
		if ec.StoreDir == "" {
			if ec.StoreDir, err = os.MkdirTemp("", "prs-state-"); err != nil {
				return nil, err
			}
			s.tmp = ec.StoreDir
		}
		if s.Server, err = StartEmbedded(ec); err != nil {
			return nil, err
		}
		cc = ConnectConfig{URL: s.Server.ClientURL(), Name: cc.Name, Timeout: cc.Timeout, Logger: cc.Logger}
		if cc.Logger != nil {
			cc.Logger.Debug("embedded JetStream server started", "url", cc.URL, "store", ec.StoreDir)
		}
	}
	s.URL = cc.URL
	if s.Conn, err = Connect(cc); err != nil {
		return nil, err
	}
	js, err := jetstream.New(s.Conn)
	if err != nil {
		return nil, err
	}
	if cfg.SetupTimeout <= 0 {
		cfg.SetupTimeout = 15 * time.Second
	}
	sctx, cancel := context.WithTimeout(ctx, cfg.SetupTimeout)
	defer cancel()
	if s.Handles, err = Setup(sctx, js, cfg.Setup); err != nil {
		return nil, fmt.Errorf("setting up JetStream at %s: %w", redact.URL(s.URL), err)
	}
	return s, nil
}

// Close closes the connection, stops the embedded server and removes its
// temporary folder.
func (s *Session) Close() {
	if s.Conn != nil {
		s.Conn.Close()
	}
	if s.Server != nil {
		s.Server.Shutdown()
		s.Server.WaitForShutdown()
	}
	if s.tmp != "" {
		_ = os.RemoveAll(s.tmp)
	}
}
