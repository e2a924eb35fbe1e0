// Package sandbox is an in-process stand-in for a help desk, a bug tracker,
// a code host or a mailbox: each instance holds records of the kinds it is
// configured for, applies the gateway's actions to them, answers polls and
// fetches, and sends HMAC-signed webhooks about changes (a person's, and
// the echo of the gateway's own writes, as real trackers do). It lets the
// daemon run end to end with no accounts, and gives simulate, the
// benchmarks and the crash tests a target that counts every write.
package sandbox

import (
	"bytes"
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/secret"
)

func init() { core.Register("sandbox", New) }

// Config is a sandbox instance's configuration.
type Config struct {
	// Kinds this instance holds (default: all).
	Kinds []core.Kind `yaml:"kinds"`
	// WebhookSecretEnv names the variable holding the HMAC secret that
	// webhooks are signed with, both ways. Required unless Webhooks is false.
	WebhookSecretEnv  string `yaml:"webhook_secret_env"`
	WebhookSecretFile string `yaml:"webhook_secret_file"`
	Webhooks          *bool  `yaml:"webhooks"`
	// WebhookURL is where the sandbox sends webhooks about its records
	// (the daemon's /webhooks/sandbox/<name>). Empty: it sends none.
	WebhookURL string `yaml:"webhook_url"`
	// Echo sends a webhook after each write the gateway makes, as real
	// trackers do (default true when WebhookURL is set).
	Echo *bool `yaml:"echo"`
	// StateFile keeps the records and the write log across restarts.
	StateFile string `yaml:"state_file"`
	// Initial native status of a created record, by kind.
	Initial map[core.Kind]string `yaml:"initial"`
	// Prefix of created ids, by kind (dev_ticket "KBOT-", change_ticket "DO-").
	Prefix map[core.Kind]string `yaml:"prefix"`
	// PollInterval (default 30s).
	PollInterval time.Duration `yaml:"poll_interval"`
	// PageSize bounds the records one poll returns (default 100).
	PageSize int `yaml:"page_size"`
	// ApplyLatency is added to every write, to model a remote API.
	ApplyLatency time.Duration `yaml:"apply_latency"`
}

// Write is one write the gateway made, kept so tests can count them.
type Write struct {
	Key    string          `json:"key"`
	Kind   core.ActionKind `json:"kind"`
	Target core.Ref        `json:"target"`
	At     time.Time       `json:"at"`
}

// Connector is one sandbox instance.
type Connector struct {
	name   string
	cfg    Config
	secret core.Secret
	clock  core.Clock
	log    *slog.Logger
	client *http.Client

	mu      sync.Mutex
	records map[core.Ref]*core.Item
	writes  []Write
	seq     int
	// echoes are the lanes of the webhook queue: a record's echoes go
	// through one lane, in order; lanes send beside each other.
	echoes []chan core.Event
	// inflight counts echoes queued and not yet sent; lanesDone when the
	// lanes' senders have exited.
	inflight  sync.WaitGroup
	lanesDone sync.WaitGroup
	onWrite   func(Write)
}

type state struct {
	Records []*core.Item `json:"records"`
	Writes  []Write      `json:"writes"`
	Seq     int          `json:"seq"`
}

// New builds an instance from its configuration.
func New(s core.Setup) (core.Connector, error) {
	var cfg Config
	if err := s.Decode(&cfg); err != nil {
		return nil, err
	}
	c := &Connector{name: s.Name, cfg: cfg, clock: cmp.Or[core.Clock](s.Clock, core.SystemClock{}), log: s.Log,
		client:  &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: echoLanes}},
		records: map[core.Ref]*core.Item{}}
	if c.log == nil {
		c.log = slog.Default()
	}
	if len(c.cfg.Kinds) == 0 {
		c.cfg.Kinds = core.Kinds
	}
	for _, k := range c.cfg.Kinds {
		if !k.Known() {
			return nil, fmt.Errorf("sandbox %q: unknown kind %q", s.Name, k)
		}
	}
	webhooks := c.cfg.Webhooks == nil || *c.cfg.Webhooks
	hookSecret, err := secret.Read(s.Env, "webhook_secret", cfg.WebhookSecretEnv, cfg.WebhookSecretFile)
	if err != nil {
		return nil, fmt.Errorf("sandbox %q: %w", s.Name, err)
	}
	if webhooks && hookSecret == "" {
		return nil, fmt.Errorf("sandbox %q: webhooks need a secret: set webhook_secret_env or webhook_secret_file (or webhooks: false)", s.Name)
	}
	c.secret = hookSecret
	if c.cfg.StateFile != "" {
		if err := c.load(); err != nil {
			return nil, fmt.Errorf("sandbox %q: %w", s.Name, err)
		}
	}
	if c.cfg.WebhookURL != "" && (c.cfg.Echo == nil || *c.cfg.Echo) {
		c.echoes = make([]chan core.Event, echoLanes)
		for i := range c.echoes {
			c.echoes[i] = make(chan core.Event, 256)
			c.lanesDone.Add(1)
			go c.echoLoop(c.echoes[i])
		}
	}
	return c, nil
}

// Name implements core.Connector.
func (c *Connector) Name() string { return c.name }

// PollInterval implements engine.PollIntervaler.
func (c *Connector) PollInterval() time.Duration { return cmp.Or(c.cfg.PollInterval, 30*time.Second) }

// OnWrite registers a function called after each write (benchmarks).
func (c *Connector) OnWrite(f func(Write)) {
	c.mu.Lock()
	c.onWrite = f
	c.mu.Unlock()
}

// Close stops sending echoes, after those queued are sent.
func (c *Connector) Close() {
	if c.echoes != nil {
		for _, lane := range c.echoes {
			close(lane)
		}
		c.lanesDone.Wait()
		c.echoes = nil
	}
}

func (c *Connector) holds(k core.Kind) bool { return slices.Contains(c.cfg.Kinds, k) }

// Sign returns the signature header value for body.
func Sign(secret core.Secret, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret.Reveal()))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// SignatureHeader carries a sandbox webhook's signature.
const SignatureHeader = "X-Sandbox-Signature"

// Delivery is the body of a sandbox webhook.
type Delivery struct {
	ID    string         `json:"id"`
	Type  core.EventType `json:"type"`
	Item  core.Item      `json:"item"`
	Links []core.Link    `json:"links,omitempty"`
}

// VerifyWebhook implements core.WebhookVerifier: the key is the
// signature, which covers the body.
func (c *Connector) VerifyWebhook(req core.WebhookRequest) (string, error) {
	if c.secret == "" {
		return "", fmt.Errorf("sandbox %q does not accept webhooks: %w", c.name, core.ErrForged)
	}
	got := req.Header.Get(SignatureHeader)
	want := Sign(c.secret, req.Body)
	if got == "" || !hmac.Equal([]byte(got), []byte(want)) {
		return "", core.ErrForged
	}
	return got, nil
}

// ReceiveWebhook implements core.WebhookReceiver.
func (c *Connector) ReceiveWebhook(_ context.Context, req core.WebhookRequest) ([]core.Event, error) {
	if !req.Verified {
		if _, err := c.VerifyWebhook(req); err != nil {
			return nil, err
		}
	}
	var d Delivery
	dec := json.NewDecoder(bytes.NewReader(req.Body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return nil, core.Malformed("sandbox delivery: %v", err)
	}
	if d.ID == "" || d.Item.Ref.ID == "" || !d.Item.Ref.Kind.Known() {
		return nil, core.Malformed("sandbox delivery: id and item.ref with a known kind are required")
	}
	if d.Item.Ref.System != c.name {
		return nil, core.Malformed("sandbox delivery: item of system %q sent to instance %q", d.Item.Ref.System, c.name)
	}
	d.Item.Seen = []core.EventType{d.Type}
	return []core.Event{{Source: c.name, DeliveryID: d.ID, Via: core.ViaWebhook, Type: d.Type, Item: d.Item,
		Links: d.Links, At: c.clock.Now(), Raw: req.Body}}, nil
}

// Poll implements core.Poller: records changed after the cursor, oldest
// first, a page at a time. The cursor is the update time and ref of the
// last record returned, so records sharing a time are neither skipped nor
// repeated across pages.
func (c *Connector) Poll(_ context.Context, cursor string) ([]core.Event, string, bool, error) {
	var since time.Time
	var after string
	if cursor != "" {
		ts, ref, _ := strings.Cut(cursor, " ")
		t, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			return nil, cursor, false, fmt.Errorf("sandbox %q: bad cursor %q: %w", c.name, cursor, err)
		}
		since, after = t, ref
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var changed []*core.Item
	for _, it := range c.records {
		if it.UpdatedAt.After(since) || (it.UpdatedAt.Equal(since) && it.Ref.String() > after) {
			changed = append(changed, it)
		}
	}
	slices.SortFunc(changed, func(a, b *core.Item) int {
		if d := a.UpdatedAt.Compare(b.UpdatedAt); d != 0 {
			return d
		}
		return strings.Compare(a.Ref.String(), b.Ref.String())
	})
	size := cmp.Or(c.cfg.PageSize, 100)
	more := len(changed) > size
	if more {
		changed = changed[:size]
	}
	if len(changed) == 0 {
		return nil, cursor, false, nil
	}
	evs := make([]core.Event, len(changed))
	for i, it := range changed {
		evs[i] = core.Event{Source: c.name, Via: core.ViaPoll, Type: core.Updated, Item: it.Clone(),
			DeliveryID: it.Ref.String() + "@" + it.UpdatedAt.UTC().Format(time.RFC3339Nano), At: c.clock.Now()}
	}
	last := changed[len(changed)-1]
	return evs, last.UpdatedAt.UTC().Format(time.RFC3339Nano) + " " + last.Ref.String(), more, nil
}

// CursorAt implements core.PollSince.
func (c *Connector) CursorAt(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// Fetch implements core.Fetcher.
func (c *Connector) Fetch(_ context.Context, r core.Ref) (*core.Item, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	it, ok := c.records[r]
	if !ok {
		return nil, fmt.Errorf("sandbox %q: %s: %w", c.name, r, core.ErrNotFound)
	}
	cp := it.Clone()
	return &cp, nil
}

// FindByMarker implements core.MarkerFinder.
func (c *Connector) FindByMarker(_ context.Context, k core.Kind, marker string) (core.Ref, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, it := range c.records {
		if it.Ref.Kind == k && it.Marker == marker {
			return it.Ref, nil
		}
	}
	return core.Ref{}, core.ErrNotFound
}

// Applied implements core.AppliedChecker by looking for the action's marker.
func (c *Connector) Applied(_ context.Context, a core.Action) (core.Result, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	it, ok := c.records[a.Target]
	if !ok {
		return core.Result{}, false, nil
	}
	switch a.Kind {
	case core.AddComment:
		for _, cm := range it.Comments {
			if cm.Marker == a.Marker() {
				cp := it.Clone()
				return core.Result{CommentID: cm.ID, Item: &cp}, true, nil
			}
		}
	case core.Transition:
		if it.Native == a.Native {
			cp := it.Clone()
			return core.Result{Item: &cp}, true, nil
		}
	case core.SetFields:
		probe := it.Clone()
		for k, v := range a.Fields {
			probe.SetField(k, v)
		}
		if reflect.DeepEqual(probe, it.Clone()) {
			cp := it.Clone()
			return core.Result{Item: &cp}, true, nil
		}
	case core.AddLink:
		if slices.Contains(strings.Fields(it.Fields["links"]), a.Other.String()) {
			cp := it.Clone()
			return core.Result{Item: &cp}, true, nil
		}
	}
	return core.Result{}, false, nil
}

// Apply implements core.Applier.
func (c *Connector) Apply(ctx context.Context, a core.Action) (core.Result, error) {
	if c.cfg.ApplyLatency > 0 {
		t := time.NewTimer(c.cfg.ApplyLatency)
		select {
		case <-ctx.Done():
			t.Stop()
			return core.Result{}, ctx.Err()
		case <-t.C:
		}
	}
	c.mu.Lock()
	res, ev, err := c.applyLocked(a)
	var hook func(Write)
	if err == nil {
		hook = c.onWrite
	}
	c.mu.Unlock()
	if err != nil {
		return res, err
	}
	if ev != nil {
		c.echo(*ev)
	}
	if hook != nil && ev != nil {
		hook(Write{Key: a.Key, Kind: a.Kind, Target: ev.Item.Ref, At: ev.At})
	}
	return res, nil
}

func (c *Connector) applyLocked(a core.Action) (core.Result, *core.Event, error) {
	now := c.clock.Now()
	if a.Kind == core.Create {
		if !c.holds(a.Target.Kind) {
			return core.Result{}, nil, core.Permanent(fmt.Errorf("sandbox %q holds no %s", c.name, a.Target.Kind))
		}
		c.seq++
		id := c.newID(a.Target.Kind)
		it := &core.Item{Ref: core.Ref{System: c.name, Kind: a.Target.Kind, ID: id}, Title: a.Title, Body: a.Body,
			Native: c.initial(a.Target.Kind), Labels: slices.Clone(a.Labels), Fields: map[string]string{},
			Marker: a.Marker(), UpdatedAt: now, Version: 1, Seen: []core.EventType{core.Created}}
		for k, v := range a.Fields {
			it.SetField(k, v)
		}
		it.Labels = append(it.Labels, a.Marker())
		c.records[it.Ref] = it
		return c.wrote(a, it, core.Created, core.Result{Created: it.Ref})
	}
	if a.Kind == core.Notify {
		// The record's own people are told (a mail thread's requester):
		// no record changes, and the sandbox need not hold it.
		c.writes = append(c.writes, Write{Key: a.Key, Kind: a.Kind, Target: a.Target, At: now})
		return core.Result{Note: "notified the record's people"}, nil, c.save()
	}
	it, ok := c.records[a.Target]
	if !ok {
		return core.Result{}, nil, core.Permanent(fmt.Errorf("sandbox %q: %s: %w", c.name, a.Target, core.ErrNotFound))
	}
	var res core.Result
	typ := core.Updated
	switch a.Kind {
	case core.Transition:
		if it.Native == a.Native {
			cp := it.Clone()
			return core.Result{Item: &cp, Note: "already in status"}, nil, nil
		}
		it.Native = a.Native
		typ = core.StatusChange
	case core.AddComment:
		c.seq++
		cm := core.Comment{ID: strconv.Itoa(c.seq), Author: "liaison", Body: a.Body, Public: a.Public,
			CreatedAt: now, Marker: a.Marker(), Files: a.Files}
		it.Comments = append(it.Comments, cm)
		res.CommentID = cm.ID
		typ = core.Commented
	case core.SetFields:
		for k, v := range a.Fields {
			it.SetField(k, v)
		}
	case core.AddLink:
		links := strings.Fields(it.Fields["links"])
		if slices.Contains(links, a.Other.String()) {
			cp := it.Clone()
			return core.Result{Item: &cp, Note: "already linked"}, nil, nil
		}
		// Kept sorted, as a tracker lists remote links, not in arrival order.
		links = append(links, a.Other.String())
		slices.Sort(links)
		it.SetField("links", strings.Join(links, " "))
	default:
		return core.Result{}, nil, core.Permanent(fmt.Errorf("sandbox %q cannot %s", c.name, a.Kind))
	}
	it.UpdatedAt = now
	it.Version++
	return c.wrote(a, it, typ, res)
}

// wrote records a write, persists the state and returns the echo to send.
func (c *Connector) wrote(a core.Action, it *core.Item, typ core.EventType, res core.Result) (core.Result, *core.Event, error) {
	if !slices.Contains(it.Seen, typ) {
		it.Seen = append(it.Seen, typ)
	}
	c.writes = append(c.writes, Write{Key: a.Key, Kind: a.Kind, Target: it.Ref, At: it.UpdatedAt})
	if err := c.save(); err != nil {
		return core.Result{}, nil, err
	}
	cp := it.Clone()
	res.Item = &cp
	ev := core.Event{Source: c.name, Via: core.ViaWebhook, Type: typ, Item: it.Clone(), At: it.UpdatedAt,
		DeliveryID: fmt.Sprintf("%s@v%d", it.Ref, it.Version)}
	return res, &ev, nil
}

func (c *Connector) newID(k core.Kind) string {
	switch k {
	case core.PullRequest:
		return cmp.Or(c.cfg.Prefix[k], "acme/app#") + strconv.Itoa(c.seq)
	case core.EmailThread:
		return fmt.Sprintf("<%d@%s.sandbox>", c.seq, c.name)
	}
	return c.cfg.Prefix[k] + strconv.Itoa(c.seq)
}

func (c *Connector) initial(k core.Kind) string {
	if s, ok := c.cfg.Initial[k]; ok {
		return s
	}
	switch k {
	case core.DevTicket:
		return "To Do"
	case core.ChangeTicket:
		return "Open"
	case core.PullRequest:
		return "open"
	case core.EmailThread:
		return "received"
	}
	return "new"
}

// Person actions: what a customer, agent or developer does in the system.

// Put creates or replaces a record as a person would, and sends the
// webhook. It returns once the gateway acknowledged it (or with its error).
func (c *Connector) Put(ctx context.Context, it core.Item, typ core.EventType) (core.Item, error) {
	c.mu.Lock()
	it, err := c.putLocked(it, typ)
	c.mu.Unlock()
	if err != nil {
		return it, err
	}
	return it, c.Send(ctx, Delivery{ID: fmt.Sprintf("%s@v%d", it.Ref, it.Version), Type: typ, Item: it})
}

func (c *Connector) putLocked(it core.Item, typ core.EventType) (core.Item, error) {
	it.Ref.System = c.name
	if prev, ok := c.records[it.Ref]; ok {
		it.Version = prev.Version + 1
		it.Seen = prev.Seen
		if it.Comments == nil {
			it.Comments = prev.Comments
		}
		if it.Marker == "" {
			it.Marker = prev.Marker
		}
	} else {
		it.Version = 1
	}
	it.UpdatedAt = c.clock.Now()
	it.Comments = slices.Clone(it.Comments)
	for i := range it.Comments {
		if it.Comments[i].CreatedAt.IsZero() {
			it.Comments[i].CreatedAt = it.UpdatedAt
		}
	}
	if !slices.Contains(it.Seen, typ) {
		it.Seen = append(slices.Clone(it.Seen), typ)
	}
	cp := it.Clone()
	c.records[it.Ref] = &cp
	return it, c.save()
}

// Update changes a record as a person would (status, fields, comment). The
// change applies to the record as it is at that moment, atomically with
// the gateway's writes, as a tracker's update of some fields does.
func (c *Connector) Update(ctx context.Context, r core.Ref, typ core.EventType, change func(*core.Item)) (core.Item, error) {
	c.mu.Lock()
	prev, ok := c.records[r]
	if !ok {
		c.mu.Unlock()
		return core.Item{}, fmt.Errorf("sandbox %q: %s: %w", c.name, r, core.ErrNotFound)
	}
	it := prev.Clone()
	change(&it)
	it, err := c.putLocked(it, typ)
	c.mu.Unlock()
	if err != nil {
		return it, err
	}
	return it, c.Send(ctx, Delivery{ID: fmt.Sprintf("%s@v%d", it.Ref, it.Version), Type: typ, Item: it})
}

// Comment adds a comment as a person would.
func (c *Connector) Comment(ctx context.Context, r core.Ref, author, body string, public bool) (core.Item, error) {
	return c.Update(ctx, r, core.Commented, func(it *core.Item) {
		c.seq++ // Update holds the lock
		it.Comments = append(slices.Clone(it.Comments), core.Comment{ID: strconv.Itoa(c.seq), Author: author, Body: body, Public: public, CreatedAt: c.clock.Now()})
	})
}

// Record returns a record's current state.
func (c *Connector) Record(r core.Ref) (core.Item, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	it, ok := c.records[r]
	if !ok {
		return core.Item{}, false
	}
	return it.Clone(), true
}

// Records returns the records of a kind, in id order.
func (c *Connector) Records(k core.Kind) []core.Item {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []core.Item
	for _, it := range c.records {
		if it.Ref.Kind == k {
			out = append(out, it.Clone())
		}
	}
	slices.SortFunc(out, func(a, b core.Item) int { return strings.Compare(a.Ref.ID, b.Ref.ID) })
	return out
}

// Writes returns every write the gateway made, in order.
func (c *Connector) Writes() []Write {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.writes)
}

// Send signs a delivery and posts it to the configured webhook URL.
func (c *Connector) Send(ctx context.Context, d Delivery) error {
	if c.cfg.WebhookURL == "" {
		return nil
	}
	body, err := json.Marshal(d)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.cfg.WebhookURL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(SignatureHeader, Sign(c.secret, body))
	resp, err := c.client.Do(req)
	if err != nil {
		return fmt.Errorf("sandbox %q: sending webhook: %w", c.name, err)
	}
	// Read to the end, so that the connection is used again.
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("sandbox %q: webhook answered %d", c.name, resp.StatusCode)
	}
	return nil
}

// echoLanes is how many webhooks a sandbox sends at once. Trackers deliver
// in parallel too; one lane at a time made the echoes, not the gateway,
// the limit of a load test.
const echoLanes = 32

func (c *Connector) echo(ev core.Event) {
	if c.echoes == nil {
		return
	}
	c.inflight.Add(1)
	h := fnv.New32a()
	h.Write([]byte(ev.Item.Ref.String()))
	c.echoes[h.Sum32()%uint32(len(c.echoes))] <- ev
}

// echoLoop sends one lane's echoes in order, like a tracker's webhook
// queue; a failed echo is dropped, as trackers drop them, and polling
// catches up.
func (c *Connector) echoLoop(lane <-chan core.Event) {
	defer c.lanesDone.Done()
	for ev := range lane {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := c.Send(ctx, Delivery{ID: ev.DeliveryID, Type: ev.Type, Item: ev.Item}); err != nil {
			c.log.Debug("sandbox echo not delivered", "connector", c.name, "err", err)
		}
		cancel()
		c.inflight.Done()
	}
}

// FlushEchoes waits until every echo queued so far was sent.
func (c *Connector) FlushEchoes() { c.inflight.Wait() }

func (c *Connector) load() error {
	b, err := os.ReadFile(c.cfg.StateFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading state file: %w", err)
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("state file %s: %w", c.cfg.StateFile, err)
	}
	for _, it := range st.Records {
		c.records[it.Ref] = it
	}
	c.writes, c.seq = st.Writes, st.Seq
	return nil
}

// save writes the state file atomically and durably, so that a write the
// sandbox confirmed survives a SIGKILL, as it would at a remote service.
func (c *Connector) save() error {
	if c.cfg.StateFile == "" {
		return nil
	}
	st := state{Writes: c.writes, Seq: c.seq}
	for _, it := range c.records {
		st.Records = append(st.Records, it)
	}
	slices.SortFunc(st.Records, func(a, b *core.Item) int { return strings.Compare(a.Ref.String(), b.Ref.String()) })
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	tmp := c.cfg.StateFile + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("writing state file: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("writing state file: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("syncing state file: %w", err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, c.cfg.StateFile); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(c.cfg.StateFile)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

var (
	_ core.WebhookReceiver = (*Connector)(nil)
	_ core.WebhookVerifier = (*Connector)(nil)
	_ core.Poller          = (*Connector)(nil)
	_ core.PollSince       = (*Connector)(nil)
	_ core.Fetcher         = (*Connector)(nil)
	_ core.Applier         = (*Connector)(nil)
	_ core.MarkerFinder    = (*Connector)(nil)
	_ core.AppliedChecker  = (*Connector)(nil)
)
