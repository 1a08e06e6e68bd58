package activities

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/hardneg/hardneg/internal/reader"
	"github.com/hardneg/hardneg/miner"
	"github.com/hardneg/hardneg/storage"
	"github.com/hardneg/hardneg/storage/backend"
	"github.com/hardneg/hardneg/workflows"
)

// countingStore counts the bytes read from each object of a store.
type countingStore struct {
	storage.Store
	mu   sync.Mutex
	read map[string]*atomic.Int64
}

func (s *countingStore) Open(ctx context.Context, key string) (storage.Object, error) {
	obj, err := s.Store.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.read[key] == nil {
		s.read[key] = new(atomic.Int64)
	}
	return countingObject{obj, s.read[key]}, nil
}

// bytes returns the bytes read from key so far.
func (s *countingStore) bytes(key string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := s.read[key]; n != nil {
		return n.Load()
	}
	return 0
}

type countingObject struct {
	storage.Object
	n *atomic.Int64
}

func (o countingObject) ReadAt(p []byte, off int64) (int, error) {
	n, err := o.Object.ReadAt(p, off)
	o.n.Add(int64(n))
	return n, err
}

// TestMineTileReadsOnlyItsBlock mines tiles of one block of a query shard
// forty blocks long: the tile reads about the block's share of the shard, not
// the shard, and the block's second tile reads none of it (it is cached).
func TestMineTileReadsOnlyItsBlock(t *testing.T) {
	const queries, block = 40_000, 1_000
	spec := layout(t, pairsData(2_000, queries), 2, 1)
	spec.QueryBlockRows = block
	spec = spec.WithDefaults()
	plan, err := quiet().Plan(context.Background(), workflows.PlanInput{Spec: spec})
	if err != nil {
		t.Fatal(err)
	}
	var qs *countingStore
	a := quiet()
	a.OpenStore = func(ctx context.Context, uri string) (storage.Store, error) {
		st, _, err := backend.Open(ctx, uri)
		if err != nil || uri != spec.Queries {
			return st, err
		}
		qs = &countingStore{Store: st, read: map[string]*atomic.Int64{}}
		return qs, nil
	}
	const key = "shard-000.parquet"
	info, err := func() (storage.ObjectInfo, error) {
		st, _, err := backend.Open(context.Background(), spec.Queries)
		if err != nil {
			return storage.ObjectInfo{}, err
		}
		return st.Stat(context.Background(), key)
	}()
	if err != nil {
		t.Fatal(err)
	}
	mine := func(shard int) {
		t.Helper()
		in := workflows.TileInput{Spec: spec, Fingerprint: plan.Fingerprint, Block: plan.Blocks / 2, Shard: shard}
		if res, err := a.MineTile(context.Background(), in); err != nil || res.Skipped || res.QueryRows != block {
			t.Fatalf("MineTile: %+v, %v", res, err)
		}
	}
	mine(0)
	first := qs.bytes(key)
	// The block's share of the shard, and a page or two (and the footer) around it.
	if limit := info.Size/(queries/block)*3 + 512<<10; first > limit || first == 0 {
		t.Errorf("the tile read %d bytes of the %d-byte query shard (%d blocks); want at most %d", first, info.Size, queries/block, limit)
	}
	mine(1)
	if again := qs.bytes(key) - first; again != 0 {
		t.Errorf("the block's second tile read %d bytes of the query shard, want 0 (cached)", again)
	}
	t.Logf("one block of %d rows read %d of the query shard's %d bytes", block, first, info.Size)
}

// TestQueryMetaReadsItsBlock checks the ids and positives MergeBlock reads
// of a block in the middle of a query shard: those of the block's rows.
func TestQueryMetaReadsItsBlock(t *testing.T) {
	const queries, block = 20_000, 500
	data := pairsData(500, queries)
	spec := layout(t, data, 1, 1)
	spec.QueryBlockRows = block
	spec = spec.WithDefaults()
	plan, err := quiet().Plan(context.Background(), workflows.PlanInput{Spec: spec})
	if err != nil {
		t.Fatal(err)
	}
	a := quiet()
	p, _, err := a.loadPlan(context.Background(), spec, plan.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	b := plan.Blocks - 3
	m, err := reader.ReadQueryMeta(context.Background(), a.source(), p, b)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.IDs) != block || len(m.Positives) != block {
		t.Fatalf("%d ids and %d positive lists, want %d", len(m.IDs), len(m.Positives), block)
	}
	for i := range block {
		q := data.queries[b*block+i]
		if m.IDs[i].S != q.id || !slices.Equal(m.Positives[i], q.positives) && len(q.positives)+len(m.Positives[i]) > 0 {
			t.Fatalf("query %d of block %d: %q %v, want %q %v", i, b, m.IDs[i].S, m.Positives[i], q.id, q.positives)
		}
	}
}

// counters is a Metrics that keeps what was added, by name.
type counters struct {
	mu sync.Mutex
	n  map[string]float64
}

func (c *counters) Add(name string, _ map[string]string, delta float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]float64{}
	}
	c.n[name] += delta
}

func (c *counters) get(name string) float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[name]
}

// TestTileReportsPrefilterGiveUp checks that a quantized tile whose int8
// prefilter gives up on its data (miner.Report.GaveUpAt) says so in the
// worker's log and in MetricPrefilterGaveUp, and one that suits it does
// not. The data: embeddings with a large common component and outlier
// dimensions (docs/performance.md): 16, more than the search scores apart,
// or 3, which it scores apart; d = 1024 so that the corpus spans three of
// the search's 4-MiB int8 blocks.
func TestTileReportsPrefilterGiveUp(t *testing.T) {
	if _, q := miner.Engines(); q == "" {
		t.Skip("no int8 engine on this CPU: quantized runs exact")
	}
	const dim, corpus, queries = 1024, 10_000, 400 // queries: more than any int8 engine's fewest (miner's minQueries)
	for _, tc := range []struct {
		name     string
		common   float64 // the component every row shares
		outliers float64 // the factor of the outlier dimensions
		dims     int     // how many there are
		scatter  bool    // other dimensions in every row
		gaveUp   bool
	}{
		// Large values in other dimensions in every row: no dimension
		// stands out to be scored apart, and no common component to
		// center on (with one, the search centers the rows, which lets
		// even 16 fixed outlier dimensions through).
		{"scattered spikes", 0, 12, 64, true, true},
		{"few outlier dimensions", 1, 12, 3, false, false},
		{"random", 0, 1, 0, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(3, 4))
			gen := func(n int, prefix string) []item {
				items := make([]item, n)
				for i := range items {
					v := make([]float32, dim)
					for j := range v {
						v[j] = float32(tc.common + 0.5*rng.NormFloat64())
					}
					for j := range tc.dims {
						k := 3 + j*(dim-6)/max(1, tc.dims-1)
						if tc.scatter {
							k = rng.IntN(dim)
						}
						v[k] *= float32(tc.outliers)
					}
					items[i] = item{id: fmt.Sprintf("%s%d", prefix, i), emb: v}
				}
				return items
			}
			ds := dataSet{corpus: gen(corpus, "c"), queries: gen(queries, "q")}
			for i := range ds.queries {
				ds.queries[i].positives = []string{fmt.Sprintf("c%d", i)}
			}
			spec := layout(t, ds, 1, 1)
			spec.Precision = "quantized"
			spec = spec.WithDefaults()
			a := quiet()
			var logBuf bytes.Buffer
			a.Logger = slog.New(slog.NewTextHandler(&logBuf, nil))
			m := &counters{}
			a.Metrics = m
			plan, err := a.Plan(context.Background(), workflows.PlanInput{Spec: spec})
			if err != nil {
				t.Fatal(err)
			}
			in := workflows.TileInput{Spec: spec, Fingerprint: plan.Fingerprint}
			if _, err := a.MineTile(context.Background(), in); err != nil {
				t.Fatal(err)
			}
			_, engine := miner.Engines()
			row := regexp.MustCompile(`prefilter=` + engine + ` rescored=[1-9][0-9]* prefilter_gave_up_at_row=([0-9]+)`).FindStringSubmatch(logBuf.String())
			if row == nil || (row[1] != "0") != tc.gaveUp || (m.get(MetricPrefilterGaveUp) == 1) != tc.gaveUp {
				t.Errorf("%s = %v, want it %v; the log:\n%s", MetricPrefilterGaveUp, m.get(MetricPrefilterGaveUp), tc.gaveUp, logBuf.String())
			}
		})
	}
}
