package engine

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/liaisonhq/liaison/core"
)

// Metrics are the engine's Prometheus series. They live on a registry of
// their own so that tests and several engines in one process do not clash.
type Metrics struct {
	EventsIn   *prometheus.CounterVec // source, via
	Duplicates *prometheus.CounterVec // source
	PollFound  *prometheus.CounterVec // source: changes polling found that no webhook had delivered
	Rejected   *prometheus.CounterVec // source, reason
	Replayed   *prometheus.CounterVec // source: webhooks answered as replays of one stored before
	Actions    *prometheus.CounterVec // system, kind, result
	Conflicts  prometheus.Counter
	// UncertainResolved counts writes of unknown outcome (timed out) that
	// a later attempt settled: found by their marker, or proven absent
	// and made once.
	UncertainResolved prometheus.Counter
	PlanErrors        prometheus.Counter
	OverBudget        prometheus.Counter // rule evaluations stopped by their budget (also in PlanErrors)
	ReconcileTime     prometheus.Histogram
	IngestBatch       prometheus.Histogram
	// IntakeBacklog reads Engine.IntakeBacklog at scrape time.
	IntakeBacklog prometheus.GaugeFunc
	backlog       atomic.Pointer[func() int] // set by the engine (New)
}

// NewMetrics creates the series and registers them, with a collector that
// reads queue depth and dead letters from the store at scrape time.
func NewMetrics(reg prometheus.Registerer, st core.Store) *Metrics {
	m := &Metrics{
		EventsIn: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "liaison_events_in_total",
			Help: "Events received, by source and path (webhook, poll, push)."}, []string{"source", "via"}),
		Duplicates: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "liaison_events_duplicate_total",
			Help: "Events dropped because their delivery id was already stored."}, []string{"source"}),
		PollFound: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "liaison_poll_found_missed_total",
			Help: "Changes that polling found but no webhook delivered (that version of the record or a later one, within a minute)."}, []string{"source"}),
		Rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "liaison_webhooks_rejected_total",
			Help: "Webhook requests refused, by source and reason."}, []string{"source", "reason"}),
		Replayed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "liaison_webhooks_replayed_total",
			Help: "Signed webhook deliveries answered without decoding, as replays of one this process stored."}, []string{"source"}),
		Actions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "liaison_actions_total",
			Help: "Actions attempted, by target system, kind and result (ok, retry, dead)."}, []string{"system", "kind", "result"}),
		Conflicts: prometheus.NewCounter(prometheus.CounterOpts{Name: "liaison_conflicts_total",
			Help: "Synced fields changed on both sides since the last sync."}),
		UncertainResolved: prometheus.NewCounter(prometheus.CounterOpts{Name: "liaison_uncertain_resolved_total",
			Help: "Writes of unknown outcome (timed out) settled by a later look-up or a single resend."}),
		PlanErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "liaison_rule_errors_total",
			Help: "Rule evaluations that failed (see the log for the rule and position)."}),
		OverBudget: prometheus.NewCounter(prometheus.CounterOpts{Name: "liaison_rules_over_budget_total",
			Help: "Rule evaluations stopped because they passed the evaluation budget (rule_budget)."}),
		ReconcileTime: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "liaison_reconcile_seconds",
			Help: "Time to reconcile one case, actions included.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}),
		IngestBatch: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "liaison_ingest_batch_events",
			Help: "Events per group commit.", Buckets: prometheus.ExponentialBuckets(1, 2, 11)}),
	}
	m.IntakeBacklog = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "liaison_intake_backlog",
		Help: "Webhooks acknowledged (in the intake journal) and not yet taken in by the store."}, func() float64 {
		if f := m.backlog.Load(); f != nil {
			return float64((*f)())
		}
		return 0
	})
	reg.MustRegister(m.EventsIn, m.Duplicates, m.PollFound, m.Rejected, m.Replayed, m.Actions, m.Conflicts, m.UncertainResolved,
		m.PlanErrors, m.OverBudget, m.ReconcileTime, m.IngestBatch, m.IntakeBacklog, &storeCollector{st: st})
	return m
}

var (
	queueCasesDesc   = prometheus.NewDesc("liaison_queue_cases", "Dirty cases waiting to be reconciled.", nil, nil)
	queueActionsDesc = prometheus.NewDesc("liaison_queue_actions", "Actions pending in the outbox.", nil, nil)
	deadDesc         = prometheus.NewDesc("liaison_dead_letters", "Actions in the dead-letter list.", nil, nil)
)

type storeCollector struct{ st core.Store }

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- queueCasesDesc
	ch <- queueActionsDesc
	ch <- deadDesc
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if cases, actions, err := c.st.QueueDepth(ctx); err == nil {
		ch <- prometheus.MustNewConstMetric(queueCasesDesc, prometheus.GaugeValue, float64(cases))
		ch <- prometheus.MustNewConstMetric(queueActionsDesc, prometheus.GaugeValue, float64(actions))
	}
	if dead, err := c.st.DeadLetters(ctx); err == nil {
		ch <- prometheus.MustNewConstMetric(deadDesc, prometheus.GaugeValue, float64(len(dead)))
	}
}
