package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestHandlerExportsVaryingTagSets(t *testing.T) {
	r := NewRegistry()
	h := r.Handler()
	h.Counter("temporal_request").Inc(2)
	h.WithTags(map[string]string{"operation": "Poll"}).Counter("temporal_request").Inc(3)
	h.WithTags(map[string]string{"operation": "Poll"}).Counter("temporal_request").Inc(1)
	h.Gauge("temporal_num_pollers").Update(4)
	h.Timer("temporal.latency").Record(20 * time.Millisecond)
	r.Add("hardneg_tiles_mined_total", map[string]string{"run": "r"}, 1)

	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(r)
	want := `
# HELP temporal_request temporal_request
# TYPE temporal_request counter
temporal_request 2
temporal_request{operation="Poll"} 4
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "temporal_request"); err != nil {
		t.Error(err)
	}
	n, err := testutil.GatherAndCount(reg, "temporal_num_pollers", "temporal_latency", "hardneg_tiles_mined_total")
	if err != nil || n != 3 {
		t.Errorf("gathered %d series, %v; want 3", n, err)
	}
}
