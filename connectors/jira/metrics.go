package jira

import (
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Collectors, registered on the default registry and labelled by instance.
var (
	webhooksTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "liaison_jira_webhooks_total",
		Help: "Jira webhook deliveries by outcome (accepted, ignored, forged, malformed).",
	}, []string{"instance", "outcome"})
	requestsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "liaison_jira_requests_total",
		Help: "Jira API requests (every attempt) by HTTP status, or \"error\" for transport failures.",
	}, []string{"instance", "code"})
	perIssueLimitedTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "liaison_jira_per_issue_rate_limited_total",
		Help: "Writes refused by Jira's per-issue write limit (RateLimit-Reason: jira-per-issue-on-write).",
	}, []string{"instance"})
	polledTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "liaison_jira_poll_events_total",
		Help: "Events produced by polling (issues changed since the cursor).",
	}, []string{"instance"})
)

func init() {
	prometheus.MustRegister(webhooksTotal, requestsTotal, perIssueLimitedTotal, polledTotal)
}

// instanceMetrics are the collectors of one instance.
type instanceMetrics struct {
	name            string
	perIssueLimited prometheus.Counter
	polled          prometheus.Counter
}

func metricsFor(name string) *instanceMetrics {
	return &instanceMetrics{
		name:            name,
		perIssueLimited: perIssueLimitedTotal.WithLabelValues(name),
		polled:          polledTotal.WithLabelValues(name),
	}
}

func (m *instanceMetrics) webhook(outcome string) {
	webhooksTotal.WithLabelValues(m.name, outcome).Inc()
}

func (m *instanceMetrics) request(resp *http.Response, err error) {
	code := "error"
	if err == nil && resp != nil {
		code = strconv.Itoa(resp.StatusCode)
	}
	requestsTotal.WithLabelValues(m.name, code).Inc()
}
