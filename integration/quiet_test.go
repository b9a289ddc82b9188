package integration

import (
	"io"
	"log/slog"
	"os"
)

func quiet() *slog.Logger {
	if os.Getenv("PRS_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}
