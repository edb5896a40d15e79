package service

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/kardianos/service"
)

// Run runs serve under the service manager's control: the Windows service
// manager needs a handshake that `imdsd serve` does not do. Elsewhere it
// runs until SIGTERM or an interrupt, like serve. log may be nil: a
// Windows service then logs to the event log, at level when it is set.
func Run(log *slog.Logger, level *slog.LevelVar, serve func(ctx context.Context, log *slog.Logger) error) error {
	p := &serviceProgram{serve: serve, log: log}
	s, err := service.New(p, &service.Config{Name: serviceLabel()})
	if err != nil {
		return err
	}
	if p.log == nil && !service.Interactive() {
		// A Windows service has no stderr: log to the event log.
		if l, err := s.Logger(nil); err == nil {
			ho := &slog.HandlerOptions{}
			if level != nil {
				ho.Level = level
			}
			p.log = slog.New(slog.NewTextHandler(eventLogWriter{l}, ho))
		}
	}
	if p.log == nil {
		p.log = slog.Default()
	}
	return s.Run()
}

type serviceProgram struct {
	serve  func(ctx context.Context, log *slog.Logger) error
	log    *slog.Logger
	cancel context.CancelFunc
	done   chan struct{}
}

func (p *serviceProgram) Start(service.Service) error {
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel, p.done = cancel, make(chan struct{})
	go func() {
		defer close(p.done)
		if err := p.serve(ctx, p.log); err != nil && ctx.Err() == nil {
			p.log.Error("imdsd stopped", "err", err)
			os.Exit(1) // the service manager restarts it
		}
	}()
	return nil
}

func (p *serviceProgram) Stop(service.Service) error {
	p.cancel()
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
	}
	return nil
}

// eventLogWriter sends each slog line to the service logger at its level.
type eventLogWriter struct{ l service.Logger }

func (w eventLogWriter) Write(b []byte) (int, error) {
	line := strings.TrimSpace(string(b))
	switch {
	case strings.Contains(line, "level=ERROR"):
		_ = w.l.Error(line)
	case strings.Contains(line, "level=WARN"):
		_ = w.l.Warning(line)
	default:
		_ = w.l.Info(line)
	}
	return len(b), nil
}
