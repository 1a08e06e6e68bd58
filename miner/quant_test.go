package miner

import (
	"context"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/hardneg/hardneg/miner/internal/kernel"
)

// searchQuantized searches tile quantized with the int8 engine qe.
func searchQuantized(t *testing.T, qe *kernel.QEngine, tile Tile) ([]Partial, Report) {
	t.Helper()
	tile.Precision = Quantized
	var got []Partial
	var rep Report
	var err error
	withQuantEngine(qe, func() { got, rep, err = SearchTileReport(context.Background(), tile) })
	if err != nil {
		t.Fatal(err)
	}
	return got, rep
}

// withQuantEngine runs f with the quantized search using qe.
func withQuantEngine(qe *kernel.QEngine, f func()) {
	defer func(old *kernel.QEngine) { quantEngine = old }(quantEngine)
	quantEngine = qe
	f()
}

// TestQuantizedEqualsExact checks the promise of the quantized prefilter:
// on random and adversarial data (ties, duplicate vectors, near positives,
// large and mixed norms, spikes), in every mode, with every int8 engine
// this CPU runs, SearchTile gives exactly the exact search's partials: the
// same top-k rows and scores bit for bit, positives, same-label summaries
// and easy draws.
func TestQuantizedEqualsExact(t *testing.T) {
	type adjust func(r *rand.Rand, m Matrix)
	scale := func(f func(r *rand.Rand) float32) adjust {
		return func(r *rand.Rand, m Matrix) {
			for i := range m.Rows {
				s := f(r)
				for d := range m.Row(i) {
					m.Row(i)[d] *= s
				}
			}
		}
	}
	cases := []struct {
		name        string
		nq, nc, dim int
		k           int
		kind        genKind
		mode        Mode
		adjust      adjust
	}{
		{"random", 61, 1500, 32, 20, genRandom, ModePairs, nil},
		{"random wide", 20, 700, 384, 50, genRandom, ModePairs, nil},
		{"ties", 40, 900, 4, 30, genTies, ModePairs, nil},
		{"ties wide", 30, 700, 37, 25, genTies, ModePairs, nil},
		{"duplicates wide", 20, 500, 130, 30, genDupes, ModePairs, nil},
		{"duplicates", 30, 800, 8, 40, genDupes, ModePairs, nil},
		{"near positives", 30, 600, 16, 25, genNearPos, ModePairs, nil},
		{"large norms", 30, 900, 24, 15, genRandom, ModePairs, scale(func(*rand.Rand) float32 { return 1e6 })},
		{"mixed norms", 30, 900, 24, 15, genRandom, ModePairs, scale(func(r *rand.Rand) float32 { return float32(math.Ldexp(1, r.IntN(30)-15)) })},
		{"spikes", 25, 600, 40, 15, genRandom, ModePairs, func(r *rand.Rand, m Matrix) {
			for i := range m.Rows {
				m.Row(i)[r.IntN(m.Dim)] = 50
			}
		}},
		{"beyond the bound's range", 10, 300, 8, 10, genRandom, ModePairs, scale(func(*rand.Rand) float32 { return 1e17 })},
		{"k larger than shard", 9, 40, 6, 100, genRandom, ModePairs, nil},
		{"k zero", 9, 200, 6, 0, genRandom, ModePairs, nil},
		{"self", 0, 500, 12, 20, genDupes, ModeSelf, nil},
		{"labeled", 40, 900, 10, 20, genTies, ModeLabeled, nil},
		{"labeled random", 40, 900, 10, 20, genRandom, ModeLabeled, nil},
		{"labeled k zero", 20, 300, 10, 0, genRandom, ModeLabeled, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(tc.nc), uint64(tc.dim)))
			p := genProblem(r, tc.mode, tc.nq, tc.nc, tc.dim, tc.kind)
			if tc.adjust != nil {
				tc.adjust(r, p.c)
				if tc.mode != ModeSelf {
					tc.adjust(r, p.q)
				}
			}
			const base = 5000
			tile := p.tile(base, tc.k)
			tile.EasySeeds, tile.EasyDraws, tile.CorpusRows = make([]uint64, p.q.Rows), 30, base+int64(p.c.Rows)
			for i := range tile.EasySeeds {
				tile.EasySeeds[i] = uint64(i) + 1
			}
			want, err := SearchTile(tile)
			if err != nil {
				t.Fatal(err)
			}
			checkQuantizedAsExact(t, tile, want)
		})
	}
}

// checkQuantizedAsExact searches tile quantized, with every int8 engine this
// CPU runs and with one and three workers, and checks each gives want.
func checkQuantizedAsExact(t *testing.T, tile Tile, want []Partial) {
	t.Helper()
	tile.Precision = Quantized
	for _, qe := range testQEngines() {
		for _, residual := range residualSettings(qe) {
			for _, workers := range []int{1, 3} {
				tile.Workers = workers
				var got []Partial
				var err error
				withResidual(residual, func() { withQuantEngine(qe, func() { got, err = SearchTile(tile) }) })
				if err != nil {
					t.Fatal(err)
				}
				for i := range want {
					if !reflect.DeepEqual(got[i], want[i]) {
						t.Fatalf("%s (residual check %v), %d workers, query %d:\nquantized %+v\n    exact %+v", qe.Name, residual, workers, i, got[i], want[i])
					}
				}
			}
		}
	}
}

// testQEngines are the int8 engines this CPU runs and, where none of them
// has the avx2 engine's format, the portable engine in it, so that the
// residual check runs on every CPU.
func testQEngines() []*kernel.QEngine {
	qes := kernel.QEngines()
	for _, qe := range qes {
		if qe.Format() == kernel.BytesFormat {
			return qes
		}
	}
	return append(qes, kernel.QuantGoIn(kernel.BytesFormat))
}

// residualSettings are the settings of residualCheck to test qe with: on
// and off where its format takes the check.
func residualSettings(qe *kernel.QEngine) []bool {
	if kernel.ResidualApplies(qe.Format()) {
		return []bool{true, false}
	}
	return []bool{true}
}

// withResidual runs f with residualCheck set to on, at every dimension and
// whatever it spares.
func withResidual(on bool, f func()) {
	defer func(old bool, d int, k float64) {
		residualCheck, residualMinDim, residualKeep = old, d, k
	}(residualCheck, residualMinDim, residualKeep)
	residualCheck, residualMinDim, residualKeep = on, 0, 0
	f()
}

// TestJudgeResidual checks that the residual check stops, and its blocks
// stop keeping their rows, when the first block's check spared fewer than
// residualKeep of the rows it checked, and goes on otherwise.
func TestJudgeResidual(t *testing.T) {
	for _, tc := range []struct {
		checked, spared []int64 // per worker
		keep            bool
	}{
		{[]int64{100, 100}, []int64{50, 45}, true},
		{[]int64{100, 100}, []int64{50, 39}, false},
		{[]int64{0, 0}, []int64{0, 0}, true}, // nothing checked: nothing to judge by
		{[]int64{1000}, []int64{0}, false},
	} {
		s := &search{scratch: make([]scratch, len(tc.checked))}
		for i := range s.scratch {
			s.scratch[i].checked, s.scratch[i].spared = tc.checked[i], tc.spared[i]
		}
		qp := new(quantPass)
		qp.qb.KeepRows = true
		s.judgeResidual(qp)
		if qp.checking() != tc.keep {
			t.Errorf("checked %v, spared %v: residual check (rows kept) %v; want %v", tc.checked, tc.spared, qp.checking(), tc.keep)
		}
	}
}

// TestResidualCheck checks the residual check on random rows at d = 768,
// where the query's error is about two fifths of the bound: with it the
// quantized search in the avx2 engine's format gives the same partials and
// rescores at most 60% as many rows (5,861 against 10,494 when the queries
// got up to 127 levels; 5,882 against 13,623 with 64), over blocks of
// several sub-blocks, with one and three workers.
func TestResidualCheck(t *testing.T) {
	defer func(p, s int) { packBytes, subBytes = p, s }(packBytes, subBytes)
	packBytes, subBytes = 256<<10, 32<<10
	q, c := benchData(40, 8000, 768)
	qe := kernel.QuantGoIn(kernel.BytesFormat)
	for _, workers := range []int{1, 3} {
		tile := Tile{Queries: q, Corpus: c, K: 10, Workers: workers}
		var with, without []Partial
		var rw, rwo Report
		withResidual(true, func() { with, rw = searchQuantized(t, qe, tile) })
		withResidual(false, func() { without, rwo = searchQuantized(t, qe, tile) })
		if !reflect.DeepEqual(with, without) {
			t.Fatalf("%d workers: the residual check changed the partials", workers)
		}
		if rw.Checked == 0 || rwo.Checked != 0 {
			t.Errorf("%d workers: the report says %d pairs checked with the residual check, %d without", workers, rw.Checked, rwo.Checked)
		}
		if rw.Rescored == 0 || 5*rw.Rescored > 3*rwo.Rescored {
			t.Errorf("%d workers: rescored %d rows with the residual check, %d without: want 60%% or fewer", workers, rw.Rescored, rwo.Rescored)
		}
		t.Logf("%d workers: rescored %d rows with the residual check, %d without", workers, rw.Rescored, rwo.Rescored)
	}
}

// TestQuantizedEqualsExactBlocks runs the comparison with small cache
// blocks, so that the corpus spans many packed blocks and sub-blocks and the
// thresholds carry from block to block; the exact search is checked against
// the brute-force reference there too.
func TestQuantizedEqualsExactBlocks(t *testing.T) {
	defer func(p, s int) { packBytes, subBytes = p, s }(packBytes, subBytes)
	packBytes, subBytes = 16<<10, 4<<10
	q, c := benchData(50, 3000, 96)
	scores := refScores(q, c)
	for _, qe := range testQEngines() {
		want, err := SearchTile(Tile{Queries: q, Corpus: c, K: 64})
		if err != nil {
			t.Fatal(err)
		}
		for i := range want {
			if ref := refTop(scores[i], 0, 64, nil); !reflect.DeepEqual(want[i].Top, ref) {
				t.Fatalf("exact search of query %d differs from the reference", i)
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		var got []Partial
		withResidual(true, func() {
			withQuantEngine(qe, func() { got, err = SearchTile(Tile{Queries: q, Corpus: c, K: 64, Precision: Quantized}) })
		})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: quantized results differ from exact", qe.Name)
		}
	}
}

func TestPrecisionValidated(t *testing.T) {
	_, err := SearchTile(Tile{Queries: NewMatrix(1, 2), Corpus: NewMatrix(1, 2), K: 1, Precision: "fp8"})
	if err == nil {
		t.Fatal("precision fp8 accepted")
	}
}

// outliers returns a function that makes every row of a matrix a
// transformer-like embedding: a large component common to all rows, n
// dimensions (outliers) f times larger than the rest, and Gaussian noise,
// normalised. Quantizing such a row to max|x|/127 leaves the ordinary
// dimensions a few levels, so the prefilter's bound is wide beside the
// spread of the scores, unless the outliers are quantized apart
// (outlierDims: at most maxOutliers of them).
func outliers(f float32, n int) func(r *rand.Rand, m Matrix) {
	return func(r *rand.Rand, m Matrix) {
		for i := range m.Rows {
			row := m.Row(i)
			for d := range row {
				row[d] = 1 + 0.5*float32(r.NormFloat64())
			}
			for j := range n {
				row[3+j*(m.Dim-6)/max(1, n-1)] *= f
			}
		}
		Normalize(m)
	}
}

// TestQuantizedGivesUp checks the quantized search's way out
// (giveUpShare): on data where the prefilter lets most rows through, the
// scan hands over to the exact search after a few blocks, in pairs and
// labeled mode, with every int8 engine, and the result is still the exact
// search's (the outliers not centered: corpusCenter would narrow the bound);
// on random data, and on outliers it scores apart, it scans to the end.
func TestQuantizedGivesUp(t *testing.T) {
	defer func(p, s int) { packBytes, subBytes = p, s }(packBytes, subBytes)
	packBytes, subBytes = 64<<10, 8<<10 // blocks of 960 rows at d = 64
	cases := []struct {
		name   string
		mode   Mode
		nc, k  int
		apart  int // maxOutliers
		center bool
		adjust func(r *rand.Rand, m Matrix)
		gaveUp bool
	}{
		// Outliers quantized with the rest (maxOutliers 0), not centered.
		{"outliers, none apart", ModePairs, 8000, 20, 0, false, outliers(12, 3), true},
		{"outliers labeled, none apart", ModeLabeled, 8000, 20, 0, false, outliers(12, 3), true},
		// Scored apart (outlierDims), and the prefilter works.
		{"outliers", ModePairs, 8000, 20, 8, true, outliers(12, 3), false},
		{"outliers labeled", ModeLabeled, 8000, 20, 8, true, outliers(12, 3), false},
		{"random", ModePairs, 8000, 20, 8, true, func(_ *rand.Rand, m Matrix) { Normalize(m) }, false},
		// Early blocks take many rows into heaps this large (entering).
		{"random, k large", ModePairs, 30000, 300, 8, true, func(_ *rand.Rand, m Matrix) { Normalize(m) }, false},
		// Fewer rows than a block: scanned in two halves, the first judged
		// (at K = 5, so that its 480 rows are judged: judgeAfter), on outliers
		// ×20, where 18% of its pairs are rescored.
		{"outliers, one block, none apart", ModePairs, 900, 5, 0, false, outliers(20, 3), true},
		{"random, one block", ModePairs, 900, 20, 8, true, func(_ *rand.Rand, m Matrix) { Normalize(m) }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(7, 64))
			defer func(n, c int) { maxOutliers, centerShare = n, c }(maxOutliers, centerShare)
			maxOutliers = tc.apart
			if !tc.center {
				centerShare = 0
			}
			p := genProblem(r, tc.mode, 40, tc.nc, 64, genRandom)
			tc.adjust(r, p.q)
			tc.adjust(r, p.c)
			for _, l := range [][]int32{p.qLabels, p.cLabels} {
				for i := range l {
					l[i] = int32(r.IntN(40)) // most rows compete for the top K
				}
			}
			tile := p.tile(100, tc.k)
			want, err := SearchTile(tile)
			if err != nil {
				t.Fatal(err)
			}
			for _, qe := range kernel.QEngines() {
				got, rep := searchQuantized(t, qe, tile)
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("%s: quantized results differ from exact", qe.Name)
				}
				t.Logf("%s: %+v", qe.Name, rep)
				if rep.Prefilter != qe.Name || rep.Rescored == 0 || (rep.GaveUpAt > 0) != tc.gaveUp || rep.GaveUpAt >= p.c.Rows {
					t.Errorf("%s: report %+v, want the prefilter %s, rows rescored, and a give-up before the last row: %v",
						qe.Name, rep, qe.Name, tc.gaveUp)
				}
			}
		})
	}
}

// TestEntering checks entering against the sum it approximates: a row's
// chance min(1, K/i) of entering a heap of K as the i-th row, plus K for
// the seed in the first block; the approximation may be below the sum by
// at most about K/b0 + 1 (the integral against the sum, and truncation).
func TestEntering(t *testing.T) {
	for _, tc := range []struct{ k, b0, n int }{
		{0, 0, 100}, {20, 0, 10}, {20, 0, 256}, {100, 0, 5280}, {100, 5280, 5280},
		{1000, 5280, 5280}, {1000, 500, 800}, {50, 190000, 5280},
	} {
		sum := 0.0
		for i := tc.b0 + 1; i <= tc.b0+tc.n; i++ {
			sum += min(1, float64(tc.k)/float64(i))
		}
		if tc.b0 == 0 && tc.k > 0 {
			sum += float64(tc.k)
		}
		got := float64(entering(tc.k, tc.b0, tc.n))
		if got > sum+1 || got < sum-float64(tc.k)/float64(max(tc.b0, 1))-2 {
			t.Errorf("entering(%d, %d, %d) = %v, want about %.1f", tc.k, tc.b0, tc.n, got, sum)
		}
	}
}

// TestManyEnteringRunExact checks that a quantized tile without floors
// whose K would take more than its int8 engine's share (maxEntering) of
// the rows into the top K runs exact, one whose K takes less scans with the
// engine, and one with floors scans whatever its K, all with the exact
// result. The rows entering are counted here the long way: the i-th of n
// rows in random order enters a top K with probability min(1, K/i).
func TestManyEnteringRunExact(t *testing.T) {
	defer func(v bool) { enteringRule = v }(enteringRule)
	enteringRule = true
	const n = 4000
	r := rand.New(rand.NewPCG(7, 8))
	p := genProblem(r, ModePairs, 64, n, 16, genRandom)
	enters := func(k int) float64 {
		sum := 0.0
		for i := 1; i <= n; i++ {
			sum += min(1, float64(k)/float64(i))
		}
		return sum / n
	}
	for _, qe := range kernel.QEngines() {
		limit, ok := maxEntering[qe.Name]
		if !ok {
			limit = maxEnteringOther
		}
		few, many := 1, n
		for k := 1; k <= n; k++ { // the largest K at half the limit, the smallest at twice
			if enters(k) <= limit/2 {
				few = k
			}
			if enters(k) >= 2*limit && many == n {
				many = k
			}
		}
		floor := make([]float32, p.q.Rows)
		for i := range floor {
			floor[i] = -1e30 // below every score: the result is unchanged
		}
		for _, tc := range []struct {
			name    string
			k       int
			floor   []float32
			scanned bool
		}{
			{"few entering", few, nil, true},
			{"many entering", many, nil, false},
			{"many entering, floors", many, floor, true},
		} {
			tile := p.tile(0, tc.k)
			tile.Floor = tc.floor
			want, err := SearchTile(tile)
			if err != nil {
				t.Fatal(err)
			}
			got, rep := searchQuantized(t, qe, tile)
			if (rep.Prefilter == qe.Name) != tc.scanned || (rep.RanExact == "large k") == tc.scanned {
				t.Errorf("%s, %s (k = %d of %d rows): prefilter %q, ran exact because %q; want it to scan: %v",
					qe.Name, tc.name, tc.k, n, rep.Prefilter, rep.RanExact, tc.scanned)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s, %s: the partials differ from exact", qe.Name, tc.name)
			}
		}
	}
}

// TestFewQueriesRunExact checks that a quantized tile of fewer queries than
// its int8 engine's minQueries runs exact (Report.Prefilter empty) and one
// of that many scans with the engine, both with the exact result.
func TestFewQueriesRunExact(t *testing.T) {
	defer func(v, a int) { minQueriesVNNI, minQueriesAVX2 = v, a }(minQueriesVNNI, minQueriesAVX2)
	minQueriesVNNI, minQueriesAVX2 = shippedMinQueries[0], shippedMinQueries[1]
	r := rand.New(rand.NewPCG(5, 6))
	for _, qe := range kernel.QEngines() {
		for _, nq := range []int{minQueries(qe) - 1, minQueries(qe)} {
			p := genProblem(r, ModePairs, nq, 2000, 16, genRandom)
			tile := p.tile(0, 10)
			want, err := SearchTile(tile)
			if err != nil {
				t.Fatal(err)
			}
			got, rep := searchQuantized(t, qe, tile)
			scanned := nq >= minQueries(qe)
			if (rep.Prefilter == qe.Name) != scanned || (rep.RanExact == "few queries") == scanned {
				t.Errorf("%s, %d queries: prefilter %q, ran exact because %q; want it to scan: %v", qe.Name, nq, rep.Prefilter, rep.RanExact, scanned)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s, %d queries: the partials differ from exact", qe.Name, nq)
			}
		}
	}
}

// TestQuantizedCentered checks the centered prefilter (corpusCenter) on rows
// with a large common component: in pairs and labeled mode, with every int8
// engine, the result is the exact search's, the corpus is centered, and
// fewer rows are scored exactly than with it not centered (both scanned to
// the end).
func TestQuantizedCentered(t *testing.T) {
	defer func(p, s int) { packBytes, subBytes, giveUp = p, s, true }(packBytes, subBytes)
	packBytes, subBytes = 128<<10, 16<<10
	giveUp = false // to count every row in both, though the one not centered may give up
	for _, mode := range []Mode{ModePairs, ModeLabeled} {
		r := rand.New(rand.NewPCG(21, 22))
		p := genProblem(r, mode, 64, 8000, 128, genRandom)
		outliers(1, 0)(r, p.q)
		outliers(1, 0)(r, p.c)
		tile := p.tile(100, 20)
		want, err := SearchTile(tile)
		if err != nil {
			t.Fatal(err)
		}
		if mu := corpusCenter(p.c.Data, p.c.Dim, nil); mu == nil {
			t.Fatalf("mode %v: the rows are not centered", mode)
		}
		for _, qe := range kernel.QEngines() {
			got, centered := searchQuantized(t, qe, tile)
			func() {
				defer func(c int) { centerShare = c }(centerShare)
				centerShare = 0
				_, plain := searchQuantized(t, qe, tile)
				t.Logf("mode %v, %s: %d rows scored exactly centered, %d not", mode, qe.Name, centered.Rescored, plain.Rescored)
				if centered.Rescored >= plain.Rescored {
					t.Errorf("mode %v, %s: centered %+v, not centered %+v: want fewer rows rescored", mode, qe.Name, centered, plain)
				}
			}()
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("mode %v, %s: quantized results differ from exact", mode, qe.Name)
			}
		}
	}
}

// TestAllowedShare checks the share of a block's pairs the scan may rescore:
// 1/giveUpShare at its end, more the more of the scan is left, and never
// more than 1/giveUpEarly.
func TestAllowedShare(t *testing.T) {
	for _, tc := range []struct {
		end, scan int
		want      float64
	}{
		{200000, 200000, 0.1},        // the last block: 1/giveUpShare
		{100000, 200000, 0.12071068}, // (1 + √2)/20: a small tile's first half too
		{450, 900, 0.12071068},
		{5280, 200000, 0.35773},  // d = 1536's second block: it rescored 24%
		{10560, 200000, 0.26760}, // its fourth, 15%
		{2000, 200000, 0.5},      // (1 + 10)/20, at most 1/giveUpEarly
	} {
		if got := allowedShare(tc.end, tc.scan); math.Abs(got-tc.want) > 1e-5 {
			t.Errorf("allowedShare(%d, %d) = %.8f, want %.8f", tc.end, tc.scan, got, tc.want)
		}
	}
}
