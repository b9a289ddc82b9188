package broker

import (
	"fmt"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// EmbeddedConfig configures an in-process JetStream server.
type EmbeddedConfig struct {
	// StoreDir holds JetStream's files (required).
	StoreDir string
	// Host and Port to listen on (defaults 127.0.0.1 and a random port, -1).
	Host string
	Port int
	// SyncAlways fsyncs every write (default false: the server's 2-minute
	// sync interval; a killed process loses nothing, a lost machine may).
	SyncAlways bool
}

// StartEmbedded starts a JetStream server in this process and waits until it
// accepts connections.
func StartEmbedded(cfg EmbeddedConfig) (*server.Server, error) {
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	if cfg.Port == 0 {
		cfg.Port = -1
	}
	s, err := server.NewServer(&server.Options{
		JetStream:  true,
		StoreDir:   cfg.StoreDir,
		Host:       cfg.Host,
		Port:       cfg.Port,
		NoSigs:     true,
		NoLog:      true,
		SyncAlways: cfg.SyncAlways,
		MaxPayload: 8 << 20,
	})
	if err != nil {
		return nil, fmt.Errorf("embedded nats server: %w", err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		return nil, fmt.Errorf("embedded nats server: not ready after 10s")
	}
	return s, nil
}
