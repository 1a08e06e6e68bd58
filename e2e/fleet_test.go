package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/hardneg/hardneg/workflows"
)

// TestAllowListRefusesFast starts jobs whose corpus, queries or output lies
// outside the worker's allow-list (the test bucket): a bucket whose name
// starts with the allowed one's, a ".." climb out of the bucket, a local
// file. Each fails non-retryably in under a second, naming the field and the
// allowed prefix, and writes nothing.
func TestAllowListRefusesFast(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers")
	}
	const queue = "e2e-allow"
	startWorker(t, queue)
	c := dial(t)
	prefix := "allow/"
	putDataset(t, prefix+"in/", badData, 0)
	in := "s3://" + bucket + "/" + prefix + "in/"
	out := "s3://" + bucket + "/" + prefix + "out/"
	tests := []struct {
		name, field string
		edit        func(sp *workflows.Spec)
	}{
		{"output in a look-alike bucket", "output", func(sp *workflows.Spec) { sp.Output = "s3://" + bucket + "-other/out/" }},
		{"corpus climbs out", "corpus", func(sp *workflows.Spec) { sp.Corpus = "s3://" + bucket + "/../other/corpus/" }},
		{"queries on the worker's disk", "queries", func(sp *workflows.Spec) { sp.Queries = "file:///etc/" }},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sp := spec(fmt.Sprintf("e2e-allow-%d", i), in, out)
			tt.edit(&sp)
			runBad(t, c, queue, prefix, sp, nil, []string{tt.field + " ", "allow-list", testAllowList})
			took := failTime(t, c, sp.Run)
			t.Logf("failed in %v", took)
			if took > time.Second {
				t.Errorf("the job took %v to fail, want under 1s", took)
			}
		})
	}
}
