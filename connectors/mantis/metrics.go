package mantis

import (
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Collectors, registered on the default registry and labelled by instance.
var (
	requestsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "liaison_mantis_requests_total",
		Help: "MantisBT API requests (every attempt) by HTTP status, or \"error\" for transport failures.",
	}, []string{"instance", "code"})
	polledTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "liaison_mantis_poll_events_total",
		Help: "Events produced by polling (issues changed since the cursor).",
	}, []string{"instance"})
)

func init() { prometheus.MustRegister(requestsTotal, polledTotal) }

// instanceMetrics are the collectors of one instance.
type instanceMetrics struct {
	name   string
	polled prometheus.Counter
}

func metricsFor(name string) *instanceMetrics {
	return &instanceMetrics{name: name, polled: polledTotal.WithLabelValues(name)}
}

func (m *instanceMetrics) request(resp *http.Response, err error) {
	code := "error"
	if err == nil && resp != nil {
		code = strconv.Itoa(resp.StatusCode)
	}
	requestsTotal.WithLabelValues(m.name, code).Inc()
}
