package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/mattn/go-isatty"

	"github.com/liaisonhq/liaison/internal/console"
	"github.com/liaisonhq/liaison/internal/daemon"
	"github.com/liaisonhq/liaison/internal/sandbox"
	"github.com/liaisonhq/liaison/mappings"
)

// sandboxCmd is `make run`: the daemon with the real connectors against
// HTTP fakes of Jira (or Mantis, with --dev-tracker mantis), GitHub and
// Zendesk and an in-process IMAP server, all on loopback, playing the
// support story. --stand-ins uses the in-process
// sandbox connector for every system instead.
func sandboxCmd(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "sandbox")
	dir := fs.String("dir", ".", "folder for the SQLite file")
	listen := fs.String("listen", "127.0.0.1:8080", "HTTP address (a busy port falls back to a free one)")
	stay := fs.String("stay", "auto", "keep serving after the story: yes, no, or auto (yes when run from a terminal)")
	standIns := fs.Bool("stand-ins", false, "use in-process stand-ins instead of the real connectors and fakes")
	tracker := fs.String("dev-tracker", "jira", "the bug tracker of the story: jira, or mantis (its connector and fake, and dev_tracker: mantis)")
	consoleAddr := fs.String("console", "127.0.0.1:8081", "the web console's address (a busy port falls back to a free one); empty for none")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if *standIns && *tracker != "jira" {
		return fmt.Errorf("--dev-tracker %s runs the real connectors against their fakes; drop --stand-ins", *tracker)
	}
	log := newLogger(e.stderr, "info", "text")
	start := time.Now()
	var (
		addr, db, ticket string
		stop             func() error
		d                *daemon.Daemon
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
		addr, db, ticket, stop, d = s.Addr, s.DBPath, out.Ticket.String(), s.Stop, s.Daemon
	} else {
		// The fakes echo the gateway's own writes back as webhooks, as the
		// real services do: the log shows those echoes change nothing.
		w, err := sandbox.StartWorld(ctx, sandbox.Options{Dir: *dir, Listen: *listen, Log: log}, sandbox.WithEchoWebhooks(), sandbox.WithDevTracker(*tracker))
		if err != nil {
			return err
		}
		out, err := w.Play(ctx)
		if err != nil {
			w.Stop()
			return err
		}
		addr, db, ticket, stop, d = w.Addr, w.DBPath, "zendesk/customer_ticket/"+strconv.FormatInt(out.TicketID, 10), w.Stop, w.Daemon
	}
	fmt.Fprintf(e.stdout, "\nThe story ran in %s. The case, as `liaison links --store sqlite://%s %s` shows it:\n\n",
		time.Since(start).Round(time.Millisecond), db, ticket)
	if err := links(ctx, e, []string{"--store", "sqlite://" + db, ticket}); err != nil {
		fmt.Fprintln(e.stderr, "links:", err)
	}
	if err := printEventCounts(ctx, e.stdout, addr); err != nil {
		fmt.Fprintln(e.stderr, "metrics:", err)
	}
	// The story runs on the shipped mappings: say whose working time their
	// response-time targets count in, so no one takes it for their own.
	if m, err := daemon.LoadMappings("", *tracker, mappings.Options{}); err == nil {
		for _, line := range m.CalendarsInForce() {
			fmt.Fprintf(e.stdout, "\nResponse-time targets: %s (the shipped mappings'; give your team's in a mapping file, see mappings/examples/managed-cloud).\n", line)
		}
	}
	var demo *console.Demo
	if *consoleAddr != "" {
		var err error
		demo, err = console.StartDemo(ctx, *consoleAddr, d.ConsoleOptions(log))
		if err != nil {
			stop()
			return err
		}
		fmt.Fprintf(e.stdout, "\nThe web console is at http://%s/case?ref=%s\n  admin: %s  password: %s\n  agent (viewer): %s  password: %s\n"+
			"  (passwords made for this run only)\n", demo.Addr, url.QueryEscape(ticket), demo.Admin.Name, demo.Admin.Password, demo.Viewer.Name, demo.Viewer.Password)
	}
	if *stay == "yes" || (*stay == "auto" && interactive()) {
		fmt.Fprintf(e.stdout, "\nThe daemon keeps serving on http://%s (metrics at /metrics). Press Ctrl-C to stop.\n", addr)
		<-ctx.Done()
	}
	if demo != nil {
		demo.Stop()
	}
	return stop()
}

// printEventCounts shows, from the daemon's /metrics, how the events came
// in and how many changes polling found that no webhook had brought
// (liaison_poll_found_missed_total: none when every webhook arrived).
func printEventCounts(ctx context.Context, w io.Writer, addr string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "\nevents in, and changes polling found that no webhook had brought (/metrics):")
	missed := 0
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "liaison_events_in_total{") || strings.HasPrefix(l, "liaison_poll_found_missed_total{") {
			fmt.Fprintln(w, "  "+l)
			if strings.HasPrefix(l, "liaison_poll_found_missed_total{") && !strings.HasSuffix(l, " 0") {
				missed++
			}
		}
	}
	if missed == 0 {
		fmt.Fprintln(w, "  liaison_poll_found_missed_total 0 for every source: polling found nothing a webhook had not brought")
	}
	return nil
}

// interactive says whether standard input is a terminal. /dev/null is a
// character device too, and CI, nohup and systemd give it to the daemon:
// only a terminal keeps the sandbox serving.
func interactive() bool {
	return isatty.IsTerminal(os.Stdin.Fd())
}
