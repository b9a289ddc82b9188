package broker

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
)

// ConnectConfig says how to reach an external NATS server.
type ConnectConfig struct {
	// URL of the server(s), comma-separated (required).
	URL string
	// User and Password, or Token, or a CredsFile (JWT + nkey), when the
	// server asks for them.
	User, Password, Token, CredsFile string
	// TLS: a CA to trust, and a client certificate and key when the server
	// asks for one.
	TLSCA, TLSCert, TLSKey string
	// Name shows in the server's connection list.
	Name string
	// Timeout of the first connection (default 5s).
	Timeout time.Duration
	Logger  *slog.Logger
}

// Connect dials NATS. The first connection must succeed (an unreachable
// server is an error that names it); after that the client reconnects
// forever, so that a restart of the server does not end a worker.
func Connect(cfg ConnectConfig) (*nats.Conn, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	opts := []nats.Option{
		nats.Name(cfg.Name),
		nats.Timeout(cfg.Timeout),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.ReconnectBufSize(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("disconnected from NATS", "err", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info("reconnected to NATS", "url", c.ConnectedUrlRedacted()) }),
	}
	if cfg.User != "" {
		opts = append(opts, nats.UserInfo(cfg.User, cfg.Password))
	}
	if cfg.Token != "" {
		opts = append(opts, nats.Token(cfg.Token))
	}
	if cfg.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(cfg.CredsFile))
	}
	if cfg.TLSCA != "" {
		opts = append(opts, nats.RootCAs(cfg.TLSCA))
	}
	if cfg.TLSCert != "" || cfg.TLSKey != "" {
		opts = append(opts, nats.ClientCert(cfg.TLSCert, cfg.TLSKey))
	}
	nc, err := nats.Connect(cfg.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("connecting to NATS at %s: %w", cfg.URL, err)
	}
	return nc, nil
}
