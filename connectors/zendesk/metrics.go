package zendesk

import "github.com/prometheus/client_golang/prometheus"

// Collectors on the default registry, labelled by instance.
var (
	requestsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "liaison_zendesk_requests_total",
		Help: "Zendesk API requests by method and HTTP status (each retry counts).",
	}, []string{"instance", "method", "code"})
	rateRemaining = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "liaison_zendesk_rate_limit_remaining",
		Help: "Requests left in the current Zendesk rate-limit window, as last reported.",
	}, []string{"instance"})
	webhooksTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "liaison_zendesk_webhooks_total",
		Help: "Zendesk webhook deliveries by outcome (accepted, forged, malformed, ignored).",
	}, []string{"instance", "result"})
	exportWait = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "liaison_zendesk_export_wait_seconds_total",
		Help: "Time spent pacing incremental export requests to Zendesk's stricter limit.",
	}, []string{"instance"})
	fetchesTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "liaison_zendesk_fetches_total",
		Help: "Tickets and comment lists read to complete a webhook or poll, by what was read.",
	}, []string{"instance", "what"})
)

func init() {
	prometheus.MustRegister(requestsTotal, rateRemaining, webhooksTotal, exportWait, fetchesTotal)
}

type instanceMetrics struct {
	requests      *prometheus.CounterVec // method, code
	rateRemaining prometheus.Gauge
	webhooks      *prometheus.CounterVec // result
	exportWait    prometheus.Counter
	fetches       *prometheus.CounterVec // what
}

func metricsFor(instance string) *instanceMetrics {
	l := prometheus.Labels{"instance": instance}
	return &instanceMetrics{
		requests:      requestsTotal.MustCurryWith(l),
		rateRemaining: rateRemaining.With(l),
		webhooks:      webhooksTotal.MustCurryWith(l),
		exportWait:    exportWait.With(l),
		fetches:       fetchesTotal.MustCurryWith(l),
	}
}
