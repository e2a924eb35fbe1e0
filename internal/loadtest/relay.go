package loadtest

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// RelayConfig is the configuration of the bench's minimal durable relay.
type RelayConfig struct {
	Listen     string `json:"listen"`
	DB         string `json:"db"`         // SQLite file
	JiraURL    string `json:"jira_url"`   // base URL of the Jira the transitions go to
	JiraUser   string `json:"jira_user"`  // e-mail for basic auth
	TokenEnv   string `json:"token_env"`  // variable holding the Jira token
	SecretEnv  string `json:"secret_env"` // variable holding the webhook secret
	Transition string `json:"transition"` // id of the transition to post
}

// relayKey is the Jira key a pull request's title names.
var relayKey = regexp.MustCompile(`\bKBOT-\d+\b`)

// relayPosters is how many transitions the relay posts at once.
const relayPosters = 16

// RunRelay serves the bench's minimal durable relay until ctx ends: the
// least a gateway must do for this workload and still lose nothing it
// acknowledged. It checks the X-Hub-Signature-256, decodes what it needs
// (action, merged, title), inserts the raw body into SQLite (WAL, full
// sync, one commit for every delivery waiting), answers, then posts the
// one transition the title's key needs.
func RunRelay(ctx context.Context, cfg RelayConfig) error {
	secret := []byte(os.Getenv(cfg.SecretEnv))
	token := os.Getenv(cfg.TokenEnv)
	if len(secret) == 0 || token == "" {
		return errors.New("relay: webhook secret or Jira token unset")
	}
	q := url.Values{"_pragma": {"journal_mode(WAL)", "synchronous(FULL)", "busy_timeout(10000)"}}
	db, err := sql.Open("sqlite", cfg.DB+"?"+q.Encode())
	if err != nil {
		return fmt.Errorf("relay: %w", err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS deliveries (id INTEGER PRIMARY KEY, delivery TEXT UNIQUE, issue TEXT, raw BLOB)`); err != nil {
		return fmt.Errorf("relay: %w", err)
	}
	r := &relay{db: db, in: make(chan *relayed, 4096), posts: make(chan string, 1<<16), secret: secret, cfg: cfg, token: token,
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: relayPosters, MaxIdleConns: relayPosters}}}
	var wg sync.WaitGroup
	wg.Go(func() { r.commitLoop(ctx) })
	for range relayPosters {
		wg.Go(func() { r.postLoop(ctx) })
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("POST /webhook", r.receive)
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("relay: %w", err)
	}
	// Requests see ctx end, so that none waits for a commit that will not come.
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, BaseContext: func(net.Listener) context.Context { return ctx }}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	err = srv.Serve(ln)
	wg.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

type relay struct {
	db     *sql.DB
	in     chan *relayed
	posts  chan string
	secret []byte
	cfg    RelayConfig
	token  string
	client *http.Client
}

// relayed is one delivery waiting for its commit.
type relayed struct {
	delivery, issue string
	raw             []byte
	done            chan error
}

func (r *relay) receive(w http.ResponseWriter, req *http.Request) {
	body, rerr := io.ReadAll(io.LimitReader(req.Body, 5<<20))
	if rerr != nil {
		http.Error(w, "read", http.StatusBadRequest)
		return
	}
	sig, ok := strings.CutPrefix(req.Header.Get("X-Hub-Signature-256"), "sha256=")
	got, herr := hex.DecodeString(sig)
	mac := hmac.New(sha256.New, r.secret)
	mac.Write(body)
	if !ok || herr != nil || !hmac.Equal(got, mac.Sum(nil)) {
		http.Error(w, "forged", http.StatusUnauthorized)
		return
	}
	var e struct {
		Action      string `json:"action"`
		PullRequest struct {
			Title  string `json:"title"`
			Merged bool   `json:"merged"`
		} `json:"pull_request"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		http.Error(w, "json", http.StatusBadRequest)
		return
	}
	d := &relayed{delivery: req.Header.Get("X-GitHub-Delivery"), raw: body, done: make(chan error, 1)}
	if e.Action == "closed" && e.PullRequest.Merged {
		d.issue = relayKey.FindString(e.PullRequest.Title)
	}
	select {
	case r.in <- d:
	case <-req.Context().Done():
		return
	}
	var err error
	select {
	case err = <-d.done:
	case <-req.Context().Done():
		return // shutting down: not acknowledged
	}
	if err != nil {
		w.Header().Set("Retry-After", "1")
		http.Error(w, "store", http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusOK)
	if d.issue != "" {
		r.posts <- d.issue
	}
}

// commitLoop inserts every delivery waiting in one transaction.
func (r *relay) commitLoop(ctx context.Context) {
	for {
		var batch []*relayed
		select {
		case <-ctx.Done():
			return
		case d := <-r.in:
			batch = append(batch, d)
		}
	more:
		for len(batch) < 512 {
			select {
			case d := <-r.in:
				batch = append(batch, d)
			default:
				break more
			}
		}
		err := r.commit(ctx, batch)
		for _, d := range batch {
			d.done <- err
		}
	}
}

func (r *relay) commit(ctx context.Context, batch []*relayed) error {
	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	st, err := tx.PrepareContext(ctx, `INSERT OR IGNORE INTO deliveries (delivery, issue, raw) VALUES (?, ?, ?)`)
	if err != nil {
		return err
	}
	defer st.Close()
	for _, d := range batch {
		if _, err := st.ExecContext(ctx, d.delivery, d.issue, d.raw); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// postLoop posts transitions, retrying a failed one a few times.
func (r *relay) postLoop(ctx context.Context) {
	body := []byte(`{"transition":{"id":"` + r.cfg.Transition + `"}}`)
	for {
		var key string
		select {
		case <-ctx.Done():
			return
		case key = <-r.posts:
		}
		for try := 0; try < 5; try++ {
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, r.cfg.JiraURL+"/rest/api/2/issue/"+key+"/transitions", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.SetBasicAuth(r.cfg.JiraUser, r.token)
			resp, err := r.client.Do(req)
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode < 500 {
					break
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}
