package serve

import (
	"fmt"
	"io"
	"sort"
	"sync"
	"time"

	"github.com/smaug-dev/smaug/engine"
)

// ttftBuckets are the upper bounds (seconds) of the time-to-first-token
// histogram.
var ttftBuckets = []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

// metrics counts requests and times to first token for /metrics.
type metrics struct {
	mu       sync.Mutex
	requests map[[2]string]int64 // endpoint, status code
	ttft     []int64             // per bucket, then +Inf
	ttftSum  float64
	ttftN    int64
}

func newMetrics() *metrics {
	return &metrics{requests: map[[2]string]int64{}, ttft: make([]int64, len(ttftBuckets)+1)}
}

func (m *metrics) request(endpoint string, status int) {
	m.mu.Lock()
	m.requests[[2]string{endpoint, fmt.Sprint(status)}]++
	m.mu.Unlock()
}

func (m *metrics) firstToken(d time.Duration) {
	s := d.Seconds()
	m.mu.Lock()
	defer m.mu.Unlock()
	i := sort.SearchFloat64s(ttftBuckets, s)
	m.ttft[i]++
	m.ttftSum += s
	m.ttftN++
}

// write prints the Prometheus text exposition format.
func (m *metrics) write(w io.Writer, st engine.Stats) {
	m.mu.Lock()
	defer m.mu.Unlock()
	fmt.Fprintln(w, "# HELP smaug_requests_total HTTP API requests by endpoint and status code.")
	fmt.Fprintln(w, "# TYPE smaug_requests_total counter")
	keys := make([][2]string, 0, len(m.requests))
	for k := range m.requests {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return keys[i][0] < keys[j][0] || (keys[i][0] == keys[j][0] && keys[i][1] < keys[j][1])
	})
	for _, k := range keys {
		fmt.Fprintf(w, "smaug_requests_total{endpoint=%q,code=%q} %d\n", k[0], k[1], m.requests[k])
	}
	for _, g := range []struct {
		name, kind, help string
		v                int64
	}{
		{"smaug_prompt_tokens_total", "counter", "Prompt tokens fed to the model.", st.PromptTokens},
		{"smaug_generation_tokens_total", "counter", "Tokens generated.", st.GeneratedTokens},
		{"smaug_engine_steps_total", "counter", "Batched forward steps.", st.Steps},
		{"smaug_requests_running", "gauge", "Sequences in the running batch.", int64(st.Running)},
		{"smaug_requests_waiting", "gauge", "Requests waiting for a slot (queue depth).", int64(st.Waiting)},
	} {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n%s %d\n", g.name, g.help, g.name, g.kind, g.name, g.v)
	}
	fmt.Fprintln(w, "# HELP smaug_time_to_first_token_seconds Time from a request's arrival to its first generated text.")
	fmt.Fprintln(w, "# TYPE smaug_time_to_first_token_seconds histogram")
	var cum int64
	for i, b := range ttftBuckets {
		cum += m.ttft[i]
		fmt.Fprintf(w, "smaug_time_to_first_token_seconds_bucket{le=\"%g\"} %d\n", b, cum)
	}
	cum += m.ttft[len(ttftBuckets)]
	fmt.Fprintf(w, "smaug_time_to_first_token_seconds_bucket{le=\"+Inf\"} %d\n", cum)
	fmt.Fprintf(w, "smaug_time_to_first_token_seconds_sum %g\n", m.ttftSum)
	fmt.Fprintf(w, "smaug_time_to_first_token_seconds_count %d\n", m.ttftN)
}
