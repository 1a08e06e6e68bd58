package activities

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/hardneg/hardneg/dataset"
	"github.com/hardneg/hardneg/internal/job"
	"github.com/hardneg/hardneg/internal/synth"
	"github.com/hardneg/hardneg/miner"
	"github.com/hardneg/hardneg/workflows"
)

// item is one generated input row, whatever the mode.
type item struct {
	id        string // the id as text (an int64 in decimal for int64 ids)
	emb       []float32
	positives []string
	label     int64
}

// dataSet is generated input: the corpus and the queries (none in self mode).
type dataSet struct {
	corpus, queries []item
	intIDs          bool
}

// pairsData is synth's retrieval data: string ids, positives, near-duplicates.
func pairsData(corpus, queries int) dataSet {
	d := synth.Generate(synth.Config{Corpus: corpus, Queries: queries, Dim: 16, Clusters: 5,
		NearDupShare: 0.3, MultiPosShare: 0.3, Seed: 11}, 0)
	var ds dataSet
	for _, r := range d.Corpus {
		ds.corpus = append(ds.corpus, item{id: r.ID, emb: r.Embedding})
	}
	for _, r := range d.Queries {
		ds.queries = append(ds.queries, item{id: r.ID, emb: r.Embedding, positives: r.PositiveIDs})
	}
	return ds
}

// labeledData is clustered vectors with int64 ids and the cluster as label.
func labeledData(corpus, queries int, seed uint64) dataSet {
	rng := rand.New(rand.NewPCG(seed, 1))
	const dim, clusters = 12, 6
	centres := make([][]float32, clusters)
	for c := range centres {
		centres[c] = make([]float32, dim)
		for i := range centres[c] {
			centres[c][i] = float32(rng.NormFloat64())
		}
	}
	gen := func(n int, base int64) []item {
		items := make([]item, n)
		for i := range items {
			c := rng.IntN(clusters)
			v := make([]float32, dim)
			for j := range v {
				v[j] = centres[c][j] + 0.6*float32(rng.NormFloat64())
			}
			items[i] = item{id: strconv.FormatInt(base+int64(i)*7, 10), emb: v, label: int64(c)}
		}
		return items
	}
	ds := dataSet{corpus: gen(corpus, 1000), intIDs: true}
	if queries > 0 {
		ds.queries = gen(queries, 500000)
	}
	return ds
}

type pairsRow struct {
	ID          string    `parquet:"id"`
	Embedding   []float32 `parquet:"embedding,list"`
	PositiveIDs []string  `parquet:"positive_ids,list"`
	Text        string    `parquet:"text"` // textOf(ID)
}

// textOf is the text of the pairs data's item id.
func textOf(id string) string { return "text of " + id + " ✓" }

type labeledRow struct {
	ID        int64     `parquet:"id"`
	Embedding []float32 `parquet:"embedding,list"`
	Label     int64     `parquet:"label"`
}

// write puts items into n shards under dir, as the mode's row type.
func write(t *testing.T, dir string, items []item, n int, intIDs bool) {
	t.Helper()
	var shards [][]byte
	var err error
	if intIDs {
		rows := make([]labeledRow, len(items))
		for i, it := range items {
			id, _ := strconv.ParseInt(it.id, 10, 64)
			rows[i] = labeledRow{ID: id, Embedding: it.emb, Label: it.label}
		}
		shards, err = synth.Shards(rows, n)
	} else {
		rows := make([]pairsRow, len(items))
		for i, it := range items {
			rows[i] = pairsRow{ID: it.id, Embedding: it.emb, PositiveIDs: it.positives, Text: textOf(it.id)}
		}
		shards, err = synth.Shards(rows, n)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, b := range shards {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("shard-%03d.parquet", i)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// layout writes a data set under a fresh folder and returns a spec over it,
// in the grouped format, which the reference rows are.
func layout(t *testing.T, ds dataSet, corpusShards, queryShards int) workflows.Spec {
	t.Helper()
	root := t.TempDir()
	write(t, filepath.Join(root, "corpus"), ds.corpus, corpusShards, ds.intIDs)
	spec := workflows.Spec{
		Run: "run-a", Epoch: 3, Corpus: "file://" + filepath.Join(root, "corpus") + "/",
		Output: "file://" + filepath.Join(root, "out") + "/", Seed: 5, OutputFormat: "grouped",
	}
	if len(ds.queries) > 0 {
		write(t, filepath.Join(root, "queries"), ds.queries, queryShards, ds.intIDs)
		spec.Queries = "file://" + filepath.Join(root, "queries") + "/"
	}
	if ds.intIDs {
		spec.LabelColumn = "label"
	}
	return spec
}

func quiet() *Activities {
	return &Activities{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

// runJob runs a job in-process with RunLocal and returns the plan.
func runJob(t *testing.T, a *Activities, spec workflows.Spec) workflows.PlanResult {
	t.Helper()
	plan, err := a.RunLocal(context.Background(), spec)
	if err != nil {
		t.Fatalf("job: %v", err)
	}
	return plan
}

// outRow is one n-tuple row with ids as text, for comparison.
type outRow struct {
	QueryID        string
	PositiveIDs    []string
	PositiveScores []float32
	NegativeIDs    []string
	NegativeScores []float32
	NegativeKinds  []string
	NegativeRanks  []int32
}

// readParts reads every part under the output folder, in part order.
func readParts(t *testing.T, spec workflows.Spec) []outRow {
	t.Helper()
	dir := strings.TrimPrefix(spec.Output, "file://")
	names, _ := filepath.Glob(filepath.Join(dir, "part-*.parquet"))
	slices.Sort(names)
	var rows []outRow
	for _, name := range names {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(spec.LabelColumn, "label") {
			for _, r := range readTyped[dataset.MixedNTuple[int64, int64]](t, data) {
				rows = append(rows, outRow{fmt.Sprint(r.QueryID), texts(r.PositiveIDs), r.PositiveScores,
					texts(r.NegativeIDs), r.NegativeScores, r.NegativeKinds, r.NegativeRanks})
			}
			continue
		}
		for _, r := range readTyped[dataset.MixedNTuple[string, string]](t, data) {
			rows = append(rows, outRow{r.QueryID, r.PositiveIDs, r.PositiveScores,
				r.NegativeIDs, r.NegativeScores, r.NegativeKinds, r.NegativeRanks})
		}
	}
	return rows
}

func readTyped[T any](t *testing.T, data []byte) []T {
	t.Helper()
	r := parquet.NewGenericReader[T](bytes.NewReader(data))
	rows := make([]T, r.NumRows())
	if n, err := r.Read(rows); n != len(rows) || (err != nil && err != io.EOF) {
		t.Fatalf("read part: %d of %d rows: %v", n, len(rows), err)
	}
	return rows
}

func texts[T string | int64](v []T) []string {
	out := make([]string, len(v))
	for i, x := range v {
		out[i] = fmt.Sprint(x)
	}
	return out
}

// reference mines the same data with the miner in one piece: one tile over the
// whole corpus, no blocks, no checkpoints, the picker in query order.
func reference(t *testing.T, ds dataSet, spec workflows.Spec) []outRow {
	t.Helper()
	spec = spec.WithDefaults()
	queries, self := ds.queries, len(ds.queries) == 0
	if self {
		queries = ds.corpus
	}
	matrix := func(items []item) miner.Matrix {
		m := miner.NewMatrix(len(items), len(items[0].emb))
		for i, it := range items {
			copy(m.Row(i), it.emb)
		}
		if spec.Similarity == "cosine" {
			miner.Normalize(m)
		}
		return m
	}
	rowOf := map[string]int64{}
	for i, it := range ds.corpus {
		rowOf[it.id] = int64(i)
	}
	maxPos := 0
	for _, q := range queries {
		maxPos = max(maxPos, len(q.positives))
	}
	mode := miner.ModePairs
	switch {
	case spec.LabelColumn != "":
		mode = miner.ModeLabeled
	case self:
		mode = miner.ModeSelf
	}
	sel := referenceSelection(t, spec, mode, maxPos)
	tile := miner.Tile{Queries: matrix(queries), Corpus: matrix(ds.corpus), K: sel.PoolSize(), CorpusRows: int64(len(ds.corpus))}
	seeds := make([]uint64, len(queries))
	for q, it := range queries {
		seeds[q] = miner.QuerySeed(uint64(spec.Seed), spec.Run, int64(spec.Epoch), it.id)
	}
	if sel.EasyNeed() > 0 {
		tile.EasySeeds, tile.EasyDraws = seeds, sel.EasyDraws()
	}
	switch mode {
	case miner.ModePairs:
		tile.Positives = make([][]int64, len(queries))
		for q, it := range queries {
			for _, p := range it.positives {
				if r, ok := rowOf[p]; ok {
					tile.Positives[q] = append(tile.Positives[q], r)
				}
			}
		}
	case miner.ModeLabeled:
		for _, it := range queries {
			tile.QueryLabels = append(tile.QueryLabels, int32(it.label))
		}
		for _, it := range ds.corpus {
			tile.CorpusLabels = append(tile.CorpusLabels, int32(it.label))
		}
	}
	if self {
		for q := range queries {
			tile.QueryRows = append(tile.QueryRows, int64(q))
		}
	}
	partials, err := miner.SearchTile(tile)
	if err != nil {
		t.Fatal(err)
	}
	picker := sel.NewPicker()
	var rows []outRow
	for q, it := range queries {
		rows = append(rows, referenceRow(ds, it, picker.Pick(sel.Window(partials[q], seeds[q])), rowOf))
	}
	return rows
}

// referenceSelection resolves the selection parameters of spec as the Plan
// activity does.
func referenceSelection(t *testing.T, spec workflows.Spec, mode miner.Mode, maxPos int) miner.Selection {
	t.Helper()
	sel, err := miner.Params{
		Mode: mode, NumNegatives: spec.NumNegatives, RangeMin: spec.RangeMin, RangeMax: spec.RangeMax,
		MaxScore: spec.MaxScore, MinScore: spec.MinScore, AbsoluteMargin: spec.AbsoluteMargin, RelativeMargin: spec.RelativeMargin,
		Sampling: miner.Sampling(spec.SamplingStrategy), EasyNegatives: spec.EasyNegatives, FillWithEasy: spec.FillWithEasy,
		MaxNegativeFrequency: spec.MaxNegativeFrequency,
	}.Resolve(maxPos)
	if err != nil {
		t.Fatal(err)
	}
	return sel
}

// referenceRow is the output row of query it for its picked row: the
// positives found in the corpus, in input order, and the negatives' ids.
func referenceRow(ds dataSet, it item, row miner.Row, rowOf map[string]int64) outRow {
	r := outRow{QueryID: it.id, PositiveIDs: []string{}, PositiveScores: []float32{}}
	found := map[int64]float32{}
	for _, c := range row.Positives {
		found[c.Row] = c.Score
	}
	for _, p := range it.positives {
		if s, ok := found[rowOf[p]]; ok && !slices.Contains(r.PositiveIDs, p) {
			r.PositiveIDs = append(r.PositiveIDs, p)
			r.PositiveScores = append(r.PositiveScores, s)
		}
	}
	for _, n := range row.Negatives {
		r.NegativeIDs = append(r.NegativeIDs, ds.corpus[n.Row].id)
		r.NegativeScores = append(r.NegativeScores, n.Score)
		r.NegativeKinds = append(r.NegativeKinds, n.Kind.String())
		r.NegativeRanks = append(r.NegativeRanks, n.Rank)
	}
	return r
}

func normalise(rows []outRow) []outRow {
	for i := range rows {
		for _, p := range []*[]string{&rows[i].PositiveIDs, &rows[i].NegativeIDs, &rows[i].NegativeKinds} {
			if *p == nil {
				*p = []string{}
			}
		}
		for _, p := range []*[]float32{&rows[i].PositiveScores, &rows[i].NegativeScores} {
			if *p == nil {
				*p = []float32{}
			}
		}
		if rows[i].NegativeRanks == nil {
			rows[i].NegativeRanks = []int32{}
		}
	}
	return rows
}

func f64(v float64) *float64 { return &v }

// TestJobEqualsMinerInProcess runs whole jobs through the activities, in
// several modes and settings, and compares every part with the miner run in
// one piece on the same data.
func TestJobEqualsMinerInProcess(t *testing.T) {
	tests := []struct {
		name                 string
		data                 dataSet
		corpusShards, qShard int
		edit                 func(*workflows.Spec)
	}{
		{"pairs", pairsData(300, 70), 4, 2, func(s *workflows.Spec) { s.QueryBlockRows = 32 }},
		{"pairs quantized", pairsData(300, 70), 4, 2, func(s *workflows.Spec) { s.QueryBlockRows, s.Precision = 32, "quantized" }},
		{"pairs margins easy frequency", pairsData(300, 70), 3, 3, func(s *workflows.Spec) {
			s.QueryBlockRows, s.NumNegatives, s.RelativeMargin, s.EasyNegatives = 25, 4, f64(0.05), 2
			s.FillWithEasy, s.MaxNegativeFrequency, s.SamplingStrategy = true, 3, "random"
		}},
		{"labeled int64 ids", labeledData(240, 50, 3), 3, 2, func(s *workflows.Spec) {
			s.QueryBlockRows, s.AbsoluteMargin, s.Similarity, s.RangeMin, s.RangeMax = 16, f64(0.1), "dot", 1, 12
		}},
		{"labeled self", labeledData(150, 0, 4), 2, 0, func(s *workflows.Spec) { s.QueryBlockRows, s.EasyNegatives = 40, 1 }},
		{"self", func() dataSet { d := pairsData(120, 1); d.queries = nil; return d }(), 3, 0, func(s *workflows.Spec) {
			s.QueryBlockRows, s.MaxScore = 50, f64(0.99)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := layout(t, tt.data, tt.corpusShards, tt.qShard)
			tt.edit(&spec)
			plan := runJob(t, quiet(), spec)
			got := normalise(readParts(t, spec))
			want := normalise(reference(t, tt.data, spec))
			if len(got) != len(want) {
				t.Fatalf("%d output rows, want %d", len(got), len(want))
			}
			for i := range want {
				if !reflect.DeepEqual(got[i], want[i]) {
					t.Fatalf("row %d:\n got %+v\nwant %+v", i, got[i], want[i])
				}
			}
			if plan.Blocks < 2 || plan.CorpusShards != tt.corpusShards {
				t.Errorf("plan of %d blocks × %d shards: the test wants several of each", plan.Blocks, plan.CorpusShards)
			}
			out := strings.TrimPrefix(spec.Output, "file://")
			if _, err := os.Stat(filepath.Join(out, job.SuccessKey)); err != nil {
				t.Errorf("no _SUCCESS: %v", err)
			}
			if left := files(t, filepath.Join(out, "_work")); len(left) > 0 {
				t.Errorf("files left in _work/: %v", left)
			}
		})
	}
}

// files lists the regular files under dir. (The file store leaves empty
// folders behind when it deletes; objects are what count.)
func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out = append(out, p)
		}
		return err
	})
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return out
}

// errorType is the application error type of err, or "".
func errorType(err error) (string, bool) {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return app.Type(), app.NonRetryable()
	}
	return "", false
}

var _ = testsuite.WorkflowTestSuite{} // used by the workflow-driven test

func synthShards[T any](rows []T) ([]byte, error) {
	s, err := synth.Shards(rows, 1)
	if err != nil {
		return nil, err
	}
	return s[0], nil
}

// writeSynth writes d's corpus and queries as synthetic shards
// (corpusShards and queryShards of them) under root/c and root/q, and
// returns a spec that reads them and writes under root/o; the caller sets
// the rest.
func writeSynth(tb testing.TB, root string, d synth.Data, corpusShards, queryShards int) workflows.Spec {
	tb.Helper()
	writeShards(tb, filepath.Join(root, "c"), d.Corpus, corpusShards)
	writeShards(tb, filepath.Join(root, "q"), d.Queries, queryShards)
	return workflows.Spec{Corpus: root + "/c/", Queries: root + "/q/", Output: root + "/o/"}
}

// writeShards writes rows as n synthetic shards s0.parquet, s1.parquet, …
// in dir.
func writeShards[T any](tb testing.TB, dir string, rows []T, n int) {
	tb.Helper()
	shards, err := synth.Shards(rows, n)
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	for i, sh := range shards {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("s%d.parquet", i)), sh, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
}
