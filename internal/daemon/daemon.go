// Package daemon wires a configuration into a running gateway: the store,
// the mappings (reloaded when their folder changes), the connector
// instances, the engine and the HTTP server, with a graceful shutdown.
package daemon

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/config"
	"github.com/liaisonhq/liaison/internal/console"
	"github.com/liaisonhq/liaison/internal/digest"
	"github.com/liaisonhq/liaison/internal/engine"
	"github.com/liaisonhq/liaison/internal/notify"
	"github.com/liaisonhq/liaison/internal/server"
	"github.com/liaisonhq/liaison/internal/store"
	"github.com/liaisonhq/liaison/mappings"
	"github.com/liaisonhq/liaison/mappings/examples"
)

// Daemon is a built, not yet running, gateway.
type Daemon struct {
	Config   *config.Config
	Store    *store.Store
	Engine   *engine.Engine
	Server   *server.Server
	Registry *prometheus.Registry
	// Notifier applies Notify actions and sends the digest's mail.
	Notifier *notify.Notifier
	// Digest sends the weekly digest; nil when digest.to is empty.
	Digest *digest.Scheduler
	// Console is the web console; nil when console.listen is empty.
	Console *console.Console
	log     *slog.Logger
	conns   []core.Connector
	mapOpts mappings.Options
}

// Options tune Build for tests and tools.
type Options struct {
	Clock core.Clock
	Log   *slog.Logger
	// Owner names this replica (default: host name and pid).
	Owner string
	// IdleWait overrides the engine's idle polling (tests).
	IdleWait time.Duration
	// CheckSettled is the engine's (tests).
	CheckSettled bool
}

// completionLinger lets the record of a webhook's writes wait for the next
// webhook's commit rather than take one of its own (store.Options): at
// 100 webhooks a second that is a commit in three saved, for a worker
// held 10 ms longer at most.
const completionLinger = 10 * time.Millisecond

// Build opens the store, loads and checks the mappings, builds the
// connector instances and the engine. Nothing runs until Run.
func Build(ctx context.Context, cfg *config.Config, o Options) (*Daemon, error) {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Clock == nil {
		o.Clock = core.SystemClock{}
	}
	if o.Owner == "" {
		host, _ := os.Hostname()
		o.Owner = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	mopts := MappingOptions(cfg)
	m, err := LoadMappings(cfg.Mappings, cfg.DevTracker, mopts)
	if err != nil {
		return nil, err
	}
	for _, line := range m.Disabled {
		o.Log.Info(line)
	}
	// Every problem at once: a fix-and-restart loop per problem is what
	// an admin setting up several systems must not meet.
	conns, cerr := Connectors(cfg, o)
	notes, serr := CheckSystems(ctx, conns, m, cfg.PublicURL)
	for _, n := range notes {
		o.Log.Warn(n)
	}
	if err := errors.Join(cerr, startDespiteBusy(serr, o.Log)); err != nil {
		return nil, err
	}
	dsn, err := cfg.StoreDSN()
	if err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, dsn, store.Options{Clock: o.Clock, Logger: o.Log,
		RawRetention: cfg.Retention.Raw, AuditRetention: cfg.Retention.Audit, CompletionLinger: completionLinger})
	if err != nil {
		return nil, err
	}
	notifier, err := newNotifier(cfg, st, o)
	if err != nil {
		st.Close()
		return nil, err
	}
	// The engine's series live on their own registry; the default one
	// already carries the Go and process collectors and the connectors'.
	reg := prometheus.NewRegistry()
	met := engine.NewMetrics(reg, st)
	eng, err := engine.New(engine.Options{Store: st, Connectors: conns, Mappings: m, Metrics: met, Clock: o.Clock,
		Log: o.Log, Owner: o.Owner, Workers: cfg.Workers, MaxAttempts: cfg.MaxAttempts, IdleWait: o.IdleWait,
		RetryAfterMax: cfg.RetryAfterMax, UncertainGrace: cfg.UncertainGrace, LookupWindow: cfg.LookupWindow,
		RawRetention: cfg.Retention.Raw, AuditRetention: cfg.Retention.Audit, Notifier: notifier, Journal: st.JournalDir(),
		CheckSettled: o.CheckSettled})
	if err != nil {
		st.Close()
		return nil, err
	}
	dg, err := newDigest(cfg, st, notifier, eng, o)
	if err != nil {
		st.Close()
		return nil, err
	}
	srv := server.New(server.Options{Intake: eng, Kinds: cfg.Systems(), Log: o.Log, Rejected: met.Rejected, Replayed: met.Replayed,
		Gatherer: prometheus.Gatherers{reg, prometheus.DefaultGatherer}, MetricsApart: cfg.MetricsListen != "",
		Lag: eng.Lag, MaxLag: cfg.Backpressure.MaxLag, Pprof: cfg.Pprof})
	d := &Daemon{Config: cfg, Store: st, Engine: eng, Server: srv, Registry: reg, Notifier: notifier, Digest: dg,
		log: o.Log, conns: conns, mapOpts: mopts}
	if cfg.Console.Listen != "" {
		co := d.ConsoleOptions(o.Log.With("component", "console"))
		co.Clock = o.Clock
		if d.Console, err = console.FromConfig(cfg.Console, co); err != nil {
			st.Close()
			return nil, err
		}
	}
	return d, nil
}

// ConsoleOptions are a web console's options over this gateway: its
// store, the mappings in force, a check of changed mapping files against
// its folder, and the process's metrics.
func (d *Daemon) ConsoleOptions(log *slog.Logger) console.Options {
	return console.Options{Records: d.Store, Mappings: d.Engine.Mappings, MappingsCheck: console.CheckFolder(d.Config.Mappings, d.mapOpts),
		Metrics: prometheus.Gatherers{d.Registry, prometheus.DefaultGatherer}, Log: log}
}

// Connectors builds every configured connector instance (decoding its
// section strictly and reading its secrets). The error names every
// instance that could not be built, not only the first, and every kind
// no connector registers.
func Connectors(cfg *config.Config, o Options) ([]core.Connector, error) {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	var conns []core.Connector
	errs := []error{cfg.Check()}
	for _, in := range cfg.Instances() {
		f, ok := core.Lookup(in.Kind)
		if !ok {
			continue // cfg.Check named it
		}
		c, err := f(core.Setup{Name: in.Name, Decode: in.Decode, Log: o.Log.With("connector", in.Name), Clock: o.Clock, Env: os.Getenv})
		if err != nil {
			errs = append(errs, perLine(fmt.Sprintf("connector %q: ", in.Name), err))
			continue
		}
		conns = append(conns, c)
	}
	return conns, errors.Join(errs...)
}

// perLine prefixes every line of a joined error, so that each problem
// names its connector.
func perLine(prefix string, err error) error {
	lines := strings.Split(err.Error(), "\n")
	for i, l := range lines {
		lines[i] = prefix + l
	}
	return errors.New(strings.Join(lines, "\n"))
}

// newNotifier builds the notifier from the notify section. Without an
// SMTP server it refuses mail; webhooks always go through the guard.
func newNotifier(cfg *config.Config, st *store.Store, o Options) (*notify.Notifier, error) {
	no := notify.Options{Allow: cfg.Notify.Allow, Records: st, Clock: o.Clock, Log: o.Log.With("component", "notify")}
	if sm := cfg.Notify.SMTP; sm.Host != "" {
		s := &notify.SMTP{Host: sm.Host, Port: sm.Port, TLS: sm.TLS, Username: sm.Username, From: sm.From}
		switch {
		case sm.PasswordEnv != "":
			v := os.Getenv(sm.PasswordEnv)
			if v == "" {
				return nil, fmt.Errorf("notify.smtp.password_env: environment variable %q is empty", sm.PasswordEnv)
			}
			s.Password = core.Secret(v)
		case sm.PasswordFile != "":
			b, err := os.ReadFile(sm.PasswordFile)
			if err != nil {
				return nil, fmt.Errorf("notify.smtp.password_file: %w", err)
			}
			s.Password = core.Secret(strings.TrimSpace(string(b)))
		}
		no.SMTP = s
	}
	n, err := notify.New(no)
	if err != nil {
		return nil, fmt.Errorf("notify: %w", err)
	}
	return n, nil
}

// newDigest builds the weekly digest's scheduler, or nil when no
// organisation is configured to receive one.
func newDigest(cfg *config.Config, st *store.Store, n *notify.Notifier, eng *engine.Engine, o Options) (*digest.Scheduler, error) {
	dc := cfg.Digest
	if len(dc.To) == 0 {
		return nil, nil
	}
	sched, err := digest.ParseSchedule(cmp.Or(dc.Schedule, "mon 08:00"))
	if err != nil {
		return nil, fmt.Errorf("digest.%w", err)
	}
	loc, err := time.LoadLocation(cmp.Or(dc.Timezone, "UTC"))
	if err != nil {
		return nil, fmt.Errorf("digest.timezone %q: %w", dc.Timezone, err)
	}
	tmpl, err := digest.LoadTemplate(dc.Template)
	if err != nil {
		return nil, err
	}
	return &digest.Scheduler{Store: st, Mailer: n, Template: tmpl, Schedule: sched, Location: loc, To: dc.To,
		Mappings: eng.Mappings, Clock: o.Clock, Log: o.Log.With("component", "digest"), Owner: o.Owner}, nil
}

// MappingOptions are the options the configuration gives the mappings:
// the configured systems and the rule budget.
func MappingOptions(cfg *config.Config) mappings.Options {
	return mappings.Options{Systems: cfg.Systems(), Projects: cfg.Projects(),
		Budget: mappings.Budget{Steps: cfg.RuleBudget.Steps, Time: cfg.RuleBudget.Time}}
}

// LoadMappings loads the admin's folder, or, when dir is empty, the
// embedded mappings for the dev_tracker the configuration names (the
// defaults when it names none).
func LoadMappings(dir, devTracker string, o mappings.Options) (*core.Mappings, error) {
	if dir == "" {
		return examples.Load(devTracker, o)
	}
	return mappings.LoadDir(dir, o)
}

// Run serves until ctx ends, then shuts down in order: stop accepting
// requests (in-flight ones finish), stop the engine (claimed cases finish or
// stay queued), close the connectors and the store.
func (d *Daemon) Run(ctx context.Context, ln net.Listener) error {
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", d.Config.Listen); err != nil {
			return fmt.Errorf("listening on %s: %w", d.Config.Listen, err)
		}
	}
	// Webhook senders send a few kilobytes of headers: 64 KiB bounds what
	// a connection can make the server hold before its body is read.
	hs := &http.Server{Handler: d.Server.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
	var ms *http.Server
	if addr := d.Config.MetricsListen; addr != "" {
		mln, err := net.Listen("tcp", addr)
		if err != nil {
			ln.Close()
			return fmt.Errorf("listening for metrics on %s: %w", addr, err)
		}
		ms = &http.Server{Handler: d.Server.MetricsHandler(), ReadHeaderTimeout: 10 * time.Second,
			WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
		go ms.Serve(mln)
		d.log.Info("liaison serving metrics", "addr", mln.Addr().String())
	}
	conCtx, stopConsole := context.WithCancel(context.WithoutCancel(ctx))
	conDone := make(chan error, 1)
	if d.Console != nil {
		cln, err := net.Listen("tcp", d.Config.Console.Listen)
		if err != nil {
			ln.Close()
			if ms != nil {
				ms.Close()
			}
			stopConsole()
			return fmt.Errorf("listening for the console on %s: %w", d.Config.Console.Listen, err)
		}
		go func() { conDone <- d.Console.Serve(conCtx, cln) }()
		d.log.Info("liaison serving the console", "addr", cln.Addr().String())
	} else {
		conDone <- nil
	}
	srvErr := make(chan error, 1)
	go func() { srvErr <- hs.Serve(ln) }()
	d.log.Info("liaison serving", "addr", ln.Addr().String(), "store", d.Store.Backend(),
		"connectors", len(d.conns), "mappings", d.Engine.Mappings().Source)

	engCtx, stopEngine := context.WithCancel(context.WithoutCancel(ctx))
	engDone := make(chan error, 1)
	go func() { engDone <- d.Engine.Run(engCtx) }()
	digestDone := make(chan struct{})
	go func() {
		defer close(digestDone)
		if d.Digest != nil {
			d.Digest.Run(engCtx)
		}
	}()
	if d.Config.Mappings != "" {
		go mappings.Watch(engCtx, d.Config.Mappings, d.Config.Reload, d.mapOpts,
			func(m *core.Mappings) {
				if err := d.checkMappings(engCtx, m); err != nil {
					d.log.Error("mappings changed but were refused; keeping the previous ones", "err", err)
					return
				}
				d.Engine.SetMappings(m)
				d.log.Info("mappings reloaded", "dir", d.Config.Mappings, "rules", len(m.Rules))
			},
			func(err error) {
				d.log.Error("mappings changed but are invalid; keeping the previous ones", "err", err)
			})
	}

	var err error
	select {
	case <-ctx.Done():
	case err = <-srvErr:
	}
	d.log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if e := hs.Shutdown(sctx); e != nil && !errors.Is(e, http.ErrServerClosed) {
		d.log.Warn("http shutdown", "err", e)
	}
	if ms != nil {
		ms.Close()
	}
	stopConsole()
	if e := <-conDone; e != nil {
		d.log.Warn("console", "err", e)
	}
	stopEngine()
	<-engDone
	<-digestDone
	for _, c := range d.conns {
		if cl, ok := c.(interface{ Close() }); ok {
			cl.Close()
		}
	}
	if e := d.Store.Close(); e != nil {
		d.log.Warn("closing store", "err", e)
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

func (d *Daemon) checkMappings(ctx context.Context, m *core.Mappings) error {
	for _, c := range d.conns {
		if mc, ok := c.(core.MappingChecker); ok {
			if err := mc.CheckMappings(ctx, m); err != nil {
				return fmt.Errorf("connector %q: %w", c.Name(), err)
			}
		}
	}
	return nil
}

// Connectors returns the built instances.
func (d *Daemon) Connectors() []core.Connector { return d.conns }
