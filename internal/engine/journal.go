package engine

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/liaisonhq/liaison/core"
	"github.com/liaisonhq/liaison/internal/clock"
	"github.com/liaisonhq/liaison/internal/journal"
)

// Accept makes a webhook's events durable for the engine, the way an
// acknowledgement needs: with an intake journal (Options.Journal, while
// Run runs), once they are appended to it, with the store taking them in
// behind; without one, once the store has them (Submit). Which of them
// were re-deliveries is known only to the store, so Accept does not say.
func (e *Engine) Accept(ctx context.Context, events []core.Event) error {
	if len(events) == 0 {
		return nil
	}
	j := e.journal.Load()
	if j == nil {
		_, err := e.Submit(ctx, events)
		return err
	}
	rec, encoded, err := encodeRecord(events)
	if err != nil {
		return err
	}
	req, err := e.prepare(events, encoded)
	if err != nil {
		return err
	}
	seq, err := j.Append(ctx, rec)
	if errors.Is(err, journal.ErrClosed) {
		// The engine is stopping; the store still takes events.
		_, err = e.Submit(ctx, events)
		return err
	}
	if err != nil {
		return err
	}
	req.seqs = []uint64{seq}
	// The journal holds at most journalPending records of this run
	// unapplied, as many as the channel holds: this waits, if at all,
	// for the gatherer to take records an earlier run left.
	e.journalCh <- req
	return nil
}

// gatherLoop hands journaled requests to the committers, gathered: those
// waiting, and, while a commit is under way, those that come within
// IntakeLinger of the first or before that commit ends, up to MaxBatch
// events and gatherRecords records. With no commit under way, waiting
// would only delay the case: the request goes at once, and under load
// the commits themselves make the time in which requests gather. Once ctx
// ends it hands over what is left, then returns.
func (e *Engine) gatherLoop(ctx context.Context) {
	for {
		g, ok := next(ctx, e.journalCh)
		if !ok {
			return
		}
		g = &ingestReq{batch: slices.Clip(g.batch), seqs: g.seqs, parts: []*ingestReq{g}, done: make(chan struct{})}
		linger := time.NewTimer(e.o.IntakeLinger)
	gather:
		for len(g.batch) < e.o.MaxBatch && len(g.seqs) < gatherRecords {
			var r *ingestReq
			select {
			case r = <-e.journalCh:
			default:
				if e.commits.Load() == 0 {
					break gather
				}
				select {
				case r = <-e.journalCh:
				case <-e.committed:
					continue
				case <-linger.C:
					break gather
				case <-ctx.Done():
					break gather
				}
			}
			g.batch = append(g.batch, r.batch...)
			g.seqs = append(slices.Clip(g.seqs), r.seqs...)
			g.parts = append(g.parts, r)
		}
		linger.Stop()
		e.ingestCh <- g
	}
}

// journalPending bounds this run's journaled records not yet in the store
// (the journal's MaxPending), and is journalCh's capacity. Past it,
// acknowledgements wait for the store, as they would without a journal:
// a burst (a tracker's echoes of a thousand writes, say) then does not
// take the store's writer from the workers for longer than it did.
const journalPending = 128

// gatherRecords ends a gathering early: with journalPending records in
// flight, a gatherer that waited for more would wait for its own commit.
// A quarter keeps the committers busy side by side.
const gatherRecords = journalPending / 4

// openJournal opens the intake journal and hands the committers what an
// earlier process left in it. Without it the engine still runs: webhooks
// are then acknowledged once the store has them.
func (e *Engine) openJournal(ctx context.Context) *journal.Journal {
	if e.o.Journal == "" {
		return nil
	}
	j, left, err := journal.Open(e.o.Journal, journal.Options{Log: e.log, MaxPending: journalPending})
	if err != nil {
		if errors.Is(err, journal.ErrInUse) {
			e.log.Info("intake journal in use by another replica; this one acknowledges webhooks once the store has them", "dir", e.o.Journal)
		} else {
			e.log.Error("intake journal could not be opened; webhooks are acknowledged once the store has them, and what the journal holds waits for it", "err", err)
		}
		return nil
	}
	if len(left) > 0 {
		e.log.Info("intake journal: taking in what an earlier run acknowledged", "records", len(left))
		go e.replay(ctx, j, left)
	}
	return j
}

// replay hands the records an earlier process left to the committers.
func (e *Engine) replay(ctx context.Context, j *journal.Journal, left []journal.Record) {
	for _, rec := range left {
		events, encoded, err := decodeRecord(rec.Data)
		var req *ingestReq
		if err == nil {
			req, err = e.prepare(events, encoded)
		}
		if err != nil {
			// Its checksum matched, so the journal is not torn: this is a
			// record an older version wrote, or a bug. Nothing can take
			// it in; it goes with its segment.
			e.log.Error("intake journal: a record that cannot be taken in was skipped", "err", err)
			j.Applied(rec.Seq)
			continue
		}
		req.seqs = []uint64{rec.Seq}
		select {
		case e.journalCh <- req:
		case <-ctx.Done():
			return // left in the journal for the next run
		}
	}
}

// journaled settles a journaled request once the store tried it: applied,
// or tried again a little later. An event the store refuses as malformed
// would be refused forever, so it is logged and dropped.
func (e *Engine) journaled(ctx context.Context, r *ingestReq) {
	j := e.journal.Load()
	var bad *core.BadInput
	switch {
	case r.err == nil:
		for _, seq := range r.seqs {
			j.Applied(seq)
		}
	case errors.As(r.err, &bad) && len(r.seqs) == 1:
		e.log.Error("intake journal: the store refused an acknowledged event; dropped", "err", r.err)
		j.Applied(r.seqs[0])
	case ctx.Err() != nil:
		// Stopping: the next run takes them from the journal.
	default:
		e.log.Warn("intake journal: the store could not take in acknowledged events; trying again", "records", len(r.seqs), "err", r.err)
		go func() {
			if !clock.Sleep(ctx, time.Second) {
				return // the next run takes them from the journal
			}
			// One by one: a malformed one among them fails alone.
			for _, one := range r.split() {
				e.ingestCh <- one
			}
		}()
	}
}

// split undoes a gathering: the requests it was made of, afresh.
func (r *ingestReq) split() []*ingestReq {
	parts := r.parts
	if len(parts) == 0 {
		parts = []*ingestReq{r}
	}
	out := make([]*ingestReq, len(parts))
	for i, p := range parts {
		out[i] = &ingestReq{batch: p.batch, seqs: p.seqs, done: make(chan struct{})}
	}
	return out
}

// encodeRecord writes events as one journal record: per event, its JSON
// and its raw body (which the JSON leaves out), each after its length. It
// returns each event's JSON too, for the store.
func encodeRecord(events []core.Event) (rec []byte, encoded [][]byte, err error) {
	encoded = make([][]byte, len(events))
	// The record is sized once: grown by appends, a webhook's body (28 KB
	// from GitHub) was copied several times over.
	size := 0
	for i := range events {
		js, err := json.Marshal(&events[i])
		if err != nil {
			return nil, nil, fmt.Errorf("intake journal: encode event %d: %w", i+1, err)
		}
		encoded[i] = js
		size += 2*binary.MaxVarintLen64 + len(js) + len(events[i].Raw)
	}
	rec = make([]byte, 0, size)
	for i := range events {
		js := encoded[i]
		rec = binary.AppendUvarint(rec, uint64(len(js)))
		start := len(rec)
		rec = append(rec, js...)
		encoded[i] = rec[start:len(rec):len(rec)]
		rec = binary.AppendUvarint(rec, uint64(len(events[i].Raw)))
		rec = append(rec, events[i].Raw...)
	}
	return rec, encoded, nil
}

// decodeRecord reads a record encodeRecord wrote: the events, and the
// JSON each was read from.
func decodeRecord(b []byte) ([]core.Event, [][]byte, error) {
	var events []core.Event
	var encoded [][]byte
	next := func() ([]byte, error) {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return nil, errors.New("intake journal: a record cut short")
		}
		part := b[k : k+int(n) : k+int(n)]
		b = b[k+int(n):]
		return part, nil
	}
	for len(b) > 0 {
		js, err := next()
		if err != nil {
			return nil, nil, err
		}
		raw, err := next()
		if err != nil {
			return nil, nil, err
		}
		var ev core.Event
		if err := json.Unmarshal(js, &ev); err != nil {
			return nil, nil, fmt.Errorf("intake journal: decode event %d: %w", len(events)+1, err)
		}
		if len(raw) > 0 {
			ev.Raw = raw
		}
		events = append(events, ev)
		encoded = append(encoded, js)
	}
	if len(events) == 0 {
		return nil, nil, errors.New("intake journal: an empty record")
	}
	return events, encoded, nil
}
