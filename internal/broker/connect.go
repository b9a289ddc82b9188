package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/parallelrun/prs/internal/redact"
)

// ConnectConfig says how to reach an external NATS server.
type ConnectConfig struct {
	// URL of the server(s), comma-separated (required). It may carry a
	// user and password or a token (nats://user:pass@host,
	// nats://token@host); prs never prints them.
	URL string
	// User and Password, or Token, or a CredsFile (a JWT and its nkey seed,
	// decentralised auth), or an NkeyFile (an nkey seed), when the server
	// asks for them.
	User, Password, Token, CredsFile, NkeyFile string
	// TLS: a CA to trust (a tls:// URL without it trusts the system's
	// CAs), and a client certificate and key when the server asks for one.
	TLSCA, TLSCert, TLSKey string
	// Name shows in the server's connection list.
	Name string
	// Timeout of the first connection (default 5s).
	Timeout time.Duration
	Logger  *slog.Logger
}

// ErrNATSConfig is wrapped by errors in a ConnectConfig itself.
var ErrNATSConfig = errors.New("NATS connection settings")

// secrets returns the values of cfg that no message may show.
func (cfg *ConnectConfig) secrets() *redact.Secrets {
	s := &redact.Secrets{}
	s.Add(cfg.Password, cfg.Token)
	s.AddURL(cfg.URL)
	return s
}

// Connect dials NATS. The first connection must succeed (an unreachable
// server is an error that names it); after that the client reconnects
// forever, so that a restart of the server does not end a worker. No
// credential appears in its errors or its log lines: URLs are shown with
// their user information hidden ([redact.URL]), and a password or token
// that the client library puts in an error is replaced.
func Connect(cfg ConnectConfig) (*nats.Conn, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	secrets := cfg.secrets()
	where := redact.URL(cfg.URL)
	opts, err := cfg.options(log, secrets)
	if err != nil {
		return nil, fmt.Errorf("connecting to NATS at %s: %w", where, secrets.Error(err))
	}
	log.Debug("connecting to NATS", "url", where, "user", cfg.User, "token", cfg.Token != "",
		"creds", cfg.CredsFile, "nkey", cfg.NkeyFile, "tls_ca", cfg.TLSCA, "tls_cert", cfg.TLSCert)
	nc, err := nats.Connect(cfg.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("connecting to NATS at %s: %w", where, secrets.Error(err))
	}
	log.Debug("connected to NATS", "url", redact.URL(nc.ConnectedUrl()), "server", nc.ConnectedServerName())
	return nc, nil
}

func (cfg *ConnectConfig) options(log *slog.Logger, secrets *redact.Secrets) ([]nats.Option, error) {
	opts := []nats.Option{
		nats.Name(cfg.Name),
		nats.Timeout(cfg.Timeout),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.ReconnectBufSize(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("disconnected from NATS", "err", secrets.Error(err))
			}
		}),
		// nats.Conn.ConnectedUrlRedacted hides a password but shows a
		// token given as nats://token@host: redact.URL hides both.
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info("reconnected to NATS", "url", redact.URL(c.ConnectedUrl())) }),
		// Errors the server sends without closing the connection, such as
		// a permissions violation: the request that caused it only times
		// out, so this line is what names the subject that was refused.
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			if sub != nil {
				log.Warn("NATS error", "subject", sub.Subject, "err", secrets.Error(err))
				return
			}
			log.Warn("NATS error", "err", secrets.Error(err))
		}),
	}
	if cfg.Password != "" && cfg.User == "" {
		return nil, fmt.Errorf("%w: a password needs a user", ErrNATSConfig)
	}
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return nil, fmt.Errorf("%w: a TLS client certificate and its key go together", ErrNATSConfig)
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
	if cfg.NkeyFile != "" {
		o, err := nats.NkeyOptionFromSeed(cfg.NkeyFile)
		if err != nil {
			return nil, fmt.Errorf("nkey seed file %s: %w", cfg.NkeyFile, err)
		}
		opts = append(opts, o)
	}
	if cfg.TLSCA != "" {
		opts = append(opts, nats.RootCAs(cfg.TLSCA))
	}
	if cfg.TLSCert != "" {
		opts = append(opts, nats.ClientCert(cfg.TLSCert, cfg.TLSKey))
	}
	return opts, nil
}
