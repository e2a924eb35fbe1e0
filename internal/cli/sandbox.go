package cli

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/liaisonhq/liaison/internal/sandbox"
)

func sandboxCmd(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "sandbox")
	dir := fs.String("dir", ".", "folder for the SQLite file")
	listen := fs.String("listen", "127.0.0.1:8080", "HTTP address (a busy port falls back to a free one)")
	stay := fs.String("stay", "auto", "keep serving after the story: yes, no, or auto (yes when run from a terminal)")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	log := newLogger(e.stderr, "info", "text")
	s, err := sandbox.Start(ctx, sandbox.Options{Dir: *dir, Listen: *listen, Log: log})
	if err != nil {
		return err
	}
	start := time.Now()
	out, playErr := s.Play(ctx)
	if playErr != nil {
		s.Stop()
		return playErr
	}
	s.Daemon.Engine.Drain(ctx)
	fmt.Fprintf(e.stdout, "\nThe story ran in %s. The case, as `liaison links --store sqlite://%s %s` shows it:\n\n",
		time.Since(start).Round(time.Millisecond), s.DBPath, out.Ticket)
	if err := links(ctx, e, []string{"--store", "sqlite://" + s.DBPath, out.Ticket.String()}); err != nil {
		fmt.Fprintln(e.stderr, "links:", err)
	}
	keep := *stay == "yes" || (*stay == "auto" && interactive())
	if keep {
		fmt.Fprintf(e.stdout, "\nThe daemon keeps serving on http://%s (metrics at /metrics). Press Ctrl-C to stop.\n", s.Addr)
		<-ctx.Done()
	}
	return s.Stop()
}

func interactive() bool {
	fi, err := os.Stdin.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
