package cli

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/mattn/go-isatty"

	"github.com/liaisonhq/liaison/internal/sandbox"
)

// sandboxCmd is `make run`: the daemon with the real connectors against
// HTTP fakes of Jira, GitHub and Zendesk and an in-process IMAP server, all
// on loopback, playing the support story. --stand-ins uses the in-process
// sandbox connector for every system instead.
func sandboxCmd(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "sandbox")
	dir := fs.String("dir", ".", "folder for the SQLite file")
	listen := fs.String("listen", "127.0.0.1:8080", "HTTP address (a busy port falls back to a free one)")
	stay := fs.String("stay", "auto", "keep serving after the story: yes, no, or auto (yes when run from a terminal)")
	standIns := fs.Bool("stand-ins", false, "use in-process stand-ins instead of the real connectors and fakes")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	log := newLogger(e.stderr, "info", "text")
	start := time.Now()
	var (
		addr, db, ticket string
		stop             func() error
	)
	if *standIns {
		s, err := sandbox.Start(ctx, sandbox.Options{Dir: *dir, Listen: *listen, Log: log})
		if err != nil {
			return err
		}
		out, err := s.Play(ctx)
		if err != nil {
			s.Stop()
			return err
		}
		addr, db, ticket, stop = s.Addr, s.DBPath, out.Ticket.String(), s.Stop
	} else {
		// The fakes echo the gateway's own writes back as webhooks, as the
		// real services do: the log shows those echoes change nothing.
		w, err := sandbox.StartWorld(ctx, sandbox.Options{Dir: *dir, Listen: *listen, Log: log}, sandbox.WithEchoWebhooks())
		if err != nil {
			return err
		}
		out, err := w.Play(ctx)
		if err != nil {
			w.Stop()
			return err
		}
		addr, db, ticket, stop = w.Addr, w.DBPath, "zendesk/customer_ticket/"+strconv.FormatInt(out.TicketID, 10), w.Stop
	}
	fmt.Fprintf(e.stdout, "\nThe story ran in %s. The case, as `liaison links --store sqlite://%s %s` shows it:\n\n",
		time.Since(start).Round(time.Millisecond), db, ticket)
	if err := links(ctx, e, []string{"--store", "sqlite://" + db, ticket}); err != nil {
		fmt.Fprintln(e.stderr, "links:", err)
	}
	if *stay == "yes" || (*stay == "auto" && interactive()) {
		fmt.Fprintf(e.stdout, "\nThe daemon keeps serving on http://%s (metrics at /metrics). Press Ctrl-C to stop.\n", addr)
		<-ctx.Done()
	}
	return stop()
}

// interactive says whether standard input is a terminal. /dev/null is a
// character device too, and CI, nohup and systemd give it to the daemon:
// only a terminal keeps the sandbox serving.
func interactive() bool {
	return isatty.IsTerminal(os.Stdin.Fd())
}
