package miner

import (
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
)

func f64(v float64) *float64 { return &v }

// randomParams draws selection parameters for mode, with score thresholds
// taken from real scores so that some candidates sit exactly on a bound.
func randomParams(r *rand.Rand, mode Mode, sample []float32) Params {
	p := Params{Mode: mode, NumNegatives: 1 + r.IntN(4), RangeMin: r.IntN(3)}
	if r.IntN(2) == 0 {
		p.RangeMax = p.RangeMin + p.NumNegatives + r.IntN(10)
	}
	pickScore := func() *float64 {
		if len(sample) == 0 {
			return f64(0)
		}
		return f64(float64(sample[r.IntN(len(sample))]))
	}
	if mode == ModePairs && r.IntN(4) == 0 {
		p.IncludePositives = true
	}
	if mode != ModeSelf {
		if r.IntN(2) == 0 {
			p.AbsoluteMargin = f64([]float64{0, 0.1, 1, -0.5}[r.IntN(4)])
		}
		if r.IntN(2) == 0 {
			p.RelativeMargin = f64([]float64{0, 0.05, 0.5}[r.IntN(3)])
		}
	}
	if r.IntN(3) == 0 {
		p.MaxScore = pickScore()
	}
	if r.IntN(3) == 0 {
		p.MinScore = pickScore()
		if p.MaxScore != nil && *p.MinScore > *p.MaxScore {
			p.MinScore, p.MaxScore = p.MaxScore, p.MinScore
		}
	}
	return p
}

func sampleScores(p problem) []float32 {
	var out []float32
	s := refScores(p.q, p.c)
	for _, row := range s {
		out = append(out, row...)
	}
	return out
}

// TestTopSelectionMatchesReference compares the whole pipeline (sharded
// search, merge, window, pick) with sentence-transformers' algorithm run on
// the full score matrix, on random and adversarial data in every mode.
func TestTopSelectionMatchesReference(t *testing.T) {
	for trial := range 120 {
		r := rand.New(rand.NewPCG(uint64(trial), 3))
		mode := []Mode{ModePairs, ModeLabeled, ModeSelf}[trial%3]
		kind := genKind(trial / 3 % 4)
		p := genProblem(r, mode, 1+r.IntN(25), r.IntN(120), 1+r.IntN(8), kind)
		if mode == ModeLabeled && trial%2 == 0 {
			p = labeledSelf(r, r.IntN(100), 1+r.IntN(8), kind)
		}
		params := randomParams(r, mode, sampleScores(p))
		plan, err := params.Resolve(p.maxPositives())
		if err != nil {
			t.Fatalf("trial %d: %v", trial, err)
		}
		merged := p.mine(t, plan, cuts(r, p.c.Rows), cuts(r, p.q.Rows), 0)
		rows := p.pick(plan, merged)
		want := p.refSelectTop(plan)
		for i, row := range rows {
			var got []Candidate
			for _, n := range row.Negatives {
				got = append(got, Candidate{n.Row, n.Score})
				if merged[i].Top[n.Rank].Row != n.Row {
					t.Fatalf("trial %d query %d: rank %d of row %d points at row %d", trial, i, n.Rank, n.Row, merged[i].Top[n.Rank].Row)
				}
			}
			if !slices.Equal(got, want[i]) && !(len(got) == 0 && len(want[i]) == 0) {
				t.Fatalf("trial %d (%s, %+v) query %d:\n got %v\nwant %v", trial, mode, plan, i, got, want[i])
			}
		}
	}
}

func TestEveryCandidateFiltered(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	p := genProblem(r, ModePairs, 10, 50, 4, genRandom)
	plan, err := Params{Mode: ModePairs, NumNegatives: 3, MaxScore: f64(-1e30)}.Resolve(p.maxPositives())
	if err != nil {
		t.Fatal(err)
	}
	rows := p.pick(plan, p.mine(t, plan, [][2]int{{0, 50}}, [][2]int{{0, 10}}, 0))
	var st Stats
	for _, row := range rows {
		if len(row.Negatives) != 0 {
			t.Fatalf("row has negatives %v, want none", row.Negatives)
		}
		st.Add(row, plan.NumNegatives, plan.NumNegatives)
	}
	if st.ShortHard != 10 || st.ShortRows != 10 {
		t.Fatalf("short hard %d, short rows %d, want 10 and 10", st.ShortHard, st.ShortRows)
	}
	if st.Removed.MaxScore != st.Removed.Pool-st.Removed.Positive {
		t.Fatalf("max_score removed %d of %d non-positive candidates", st.Removed.MaxScore, st.Removed.Pool-st.Removed.Positive)
	}
}

func TestNoAnchorMeansNoMargin(t *testing.T) {
	// One query whose only positive is not in the corpus: the margin has
	// nothing to measure against and removes nothing.
	c := Matrix{Rows: 3, Dim: 1, Data: []float32{1, 2, 3}}
	q := Matrix{Rows: 1, Dim: 1, Data: []float32{1}}
	p := problem{q: q, c: c, positives: [][]int64{{10}}, seeds: []uint64{1}}
	plan, err := Params{Mode: ModePairs, NumNegatives: 2, AbsoluteMargin: f64(100)}.Resolve(1)
	if err != nil {
		t.Fatal(err)
	}
	rows := p.pick(plan, p.mine(t, plan, [][2]int{{0, 3}}, [][2]int{{0, 1}}, 0))
	if got := rows[0].Negatives; len(got) != 2 || got[0].Row != 2 || got[1].Row != 1 {
		t.Fatalf("negatives %v, want rows 2 and 1", got)
	}
	if rows[0].HasAnchor {
		t.Fatal("HasAnchor with no positive in the corpus")
	}
}

func TestRandomSampling(t *testing.T) {
	// 12 corpus rows with distinct scores; window = ranks 2..11 (range_min 2).
	c := NewMatrix(12, 1)
	for i := range c.Data {
		c.Data[i] = float32(12 - i)
	}
	q := Matrix{Rows: 1, Dim: 1, Data: []float32{1}}
	plan, err := Params{Mode: ModeSelf, NumNegatives: 3, RangeMin: 2, RangeMax: 12, Sampling: SamplingRandom}.Resolve(0)
	if err != nil {
		t.Fatal(err)
	}
	res, err := SearchTile(Tile{Queries: q, Corpus: c, K: plan.PoolSize()})
	if err != nil {
		t.Fatal(err)
	}
	hits := map[int64]int{}
	const draws = 3000
	for s := range uint64(draws) {
		row := plan.NewPicker().Pick(plan.Window(res[0], s))
		if len(row.Negatives) != 3 {
			t.Fatalf("seed %d: %d negatives", s, len(row.Negatives))
		}
		for i, n := range row.Negatives {
			if n.Row < 2 {
				t.Fatalf("seed %d: picked row %d inside range_min", s, n.Row)
			}
			if i > 0 && !Better(Candidate{row.Negatives[i-1].Row, row.Negatives[i-1].Score}, Candidate{n.Row, n.Score}) {
				t.Fatalf("seed %d: negatives not sorted: %v", s, row.Negatives)
			}
			hits[n.Row]++
		}
		again := plan.NewPicker().Pick(plan.Window(res[0], s))
		if !slices.Equal(again.Negatives, row.Negatives) {
			t.Fatalf("seed %d: not repeatable", s)
		}
	}
	// Each of the 10 window rows is picked with probability 3/10: 900 of
	// 3000 expected, standard deviation about 25.
	for r := int64(2); r < 12; r++ {
		if h := hits[r]; h < 750 || h > 1050 {
			t.Fatalf("row %d picked %d times of %d, want about 900", r, h, draws)
		}
	}
}

func TestEasyNegatives(t *testing.T) {
	for trial := range 40 {
		r := rand.New(rand.NewPCG(uint64(trial), 11))
		mode := []Mode{ModePairs, ModeLabeled, ModeSelf}[trial%3]
		p := genProblem(r, mode, 1+r.IntN(20), 20+r.IntN(150), 1+r.IntN(6), genKind(trial%4))
		params := Params{Mode: mode, NumNegatives: 1 + r.IntN(3), EasyNegatives: r.IntN(5), FillWithEasy: true, MaxScore: f64(-1 + 2*r.Float64())}
		plan, err := params.Resolve(p.maxPositives())
		if err != nil {
			t.Fatal(err)
		}
		merged := p.mine(t, plan, cuts(r, p.c.Rows), cuts(r, p.q.Rows), 0)
		rows := p.pick(plan, merged)
		for i, row := range rows {
			checkRow(t, p, plan, i, merged[i], row)
			if mode != ModeLabeled {
				// Outside labeled mode the draw is long enough to reach every
				// eligible row the query needs: the row is full unless the
				// corpus has too few rows outside the pool and the positives.
				want := min(plan.NumNegatives+plan.EasyNegatives, row.Hard+eligibleRows(p, plan, i, merged[i]))
				if len(row.Negatives) != want {
					t.Fatalf("trial %d query %d: %d negatives, want %d (fill_with_easy)", trial, i, len(row.Negatives), want)
				}
			}
			for _, n := range row.Negatives[row.Hard:] {
				if want := refDot(p.q.Row(i), p.c.Row(int(n.Row))); n.Score != want {
					t.Fatalf("easy row %d score %v, want %v", n.Row, n.Score, want)
				}
			}
		}
	}
}

// eligibleRows counts the corpus rows that may be query i's easy negatives.
func eligibleRows(p problem, plan Selection, i int, merged Partial) int {
	out := map[int64]bool{}
	for _, c := range merged.Top[:min(len(merged.Top), plan.PoolSize())] {
		out[c.Row] = true
	}
	if p.positives != nil {
		for _, r := range p.positives[i] {
			out[r] = true
		}
	}
	if p.queryRows != nil {
		out[p.queryRows[i]] = true
	}
	n := 0
	for r := range p.c.Rows {
		if !out[int64(r)] {
			n++
		}
	}
	return n
}

// checkRow asserts the invariants of every row: no positive, no duplicate,
// nothing of the query's label, not the query itself, hard negatives from the
// window and in score order, easy ones outside the pool, counts right.
func checkRow(t *testing.T, p problem, plan Selection, i int, merged Partial, row Row) {
	t.Helper()
	seen := map[int64]bool{}
	pool := map[int64]bool{}
	for _, c := range merged.Top[:min(len(merged.Top), plan.PoolSize())] {
		pool[c.Row] = true
	}
	if row.Hard > plan.NumNegatives || row.EasyCount > plan.EasyNeed() || row.Hard+row.EasyCount != len(row.Negatives) {
		t.Fatalf("query %d: %d hard, %d easy, %d negatives", i, row.Hard, row.EasyCount, len(row.Negatives))
	}
	for k, n := range row.Negatives {
		if seen[n.Row] {
			t.Fatalf("query %d: row %d twice in %v", i, n.Row, row.Negatives)
		}
		seen[n.Row] = true
		if p.positives != nil && slices.Contains(p.positives[i], n.Row) {
			t.Fatalf("query %d: positive %d chosen", i, n.Row)
		}
		if p.queryRows != nil && p.queryRows[i] == n.Row {
			t.Fatalf("query %d: chose itself", i)
		}
		if p.qLabels != nil && p.cLabels[n.Row] == p.qLabels[i] {
			t.Fatalf("query %d: chose row %d of its own label", i, n.Row)
		}
		if (k < row.Hard) != (n.Kind == KindHard) {
			t.Fatalf("query %d: kinds out of order: %v", i, row.Negatives)
		}
		if n.Kind == KindEasy && pool[n.Row] {
			t.Fatalf("query %d: easy negative %d is in the candidate pool", i, n.Row)
		}
		if n.Kind == KindHard && !pool[n.Row] {
			t.Fatalf("query %d: hard negative %d is not in the candidate pool", i, n.Row)
		}
		if k > 0 && k != row.Hard {
			a, b := row.Negatives[k-1], n
			if !Better(Candidate{a.Row, a.Score}, Candidate{b.Row, b.Score}) {
				t.Fatalf("query %d: negatives out of order: %v", i, row.Negatives)
			}
		}
	}
}

func TestMaxNegativeFrequency(t *testing.T) {
	t.Run("next surviving candidate", func(t *testing.T) {
		// Identical queries all want the same candidates in the same order;
		// with a cap of 1 query j must get candidates 2j and 2j+1.
		c := NewMatrix(20, 1)
		for i := range c.Data {
			c.Data[i] = float32(20 - i)
		}
		q := Matrix{Rows: 5, Dim: 1, Data: []float32{1, 1, 1, 1, 1}}
		p := problem{q: q, c: c, seeds: make([]uint64, 5)}
		plan, err := Params{Mode: ModeSelf, NumNegatives: 2, RangeMax: 20, MaxNegativeFrequency: 1}.Resolve(0)
		if err != nil {
			t.Fatal(err)
		}
		rows := p.pick(plan, p.mine(t, plan, [][2]int{{0, 20}}, [][2]int{{0, 5}}, 0))
		for j, row := range rows {
			if len(row.Negatives) != 2 || row.Negatives[0].Row != int64(2*j) || row.Negatives[1].Row != int64(2*j+1) {
				t.Fatalf("query %d: %v, want rows %d, %d", j, row.Negatives, 2*j, 2*j+1)
			}
			if row.Capped != 2*j {
				t.Fatalf("query %d: capped %d, want %d", j, row.Capped, 2*j)
			}
		}
	})
	t.Run("cap holds and ignores blocking", func(t *testing.T) {
		for trial := range 20 {
			r := rand.New(rand.NewPCG(uint64(trial), 21))
			p := genProblem(r, ModePairs, 40, 60, 3, genDupes)
			maxFreq := 1 + r.IntN(3)
			params := Params{Mode: ModePairs, NumNegatives: 3, RangeMax: 20, MaxNegativeFrequency: maxFreq, Sampling: []Sampling{SamplingTop, SamplingRandom}[trial%2]}
			plan, err := params.Resolve(p.maxPositives())
			if err != nil {
				t.Fatal(err)
			}
			a := p.pick(plan, p.mine(t, plan, [][2]int{{0, 60}}, [][2]int{{0, 40}}, 1))
			b := p.pick(plan, p.mine(t, plan, cuts(r, 60), cuts(r, 40), 2))
			counts := map[int64]int{}
			for i := range a {
				if !slices.Equal(a[i].Negatives, b[i].Negatives) {
					t.Fatalf("trial %d query %d: %v with one block, %v with several", trial, i, a[i].Negatives, b[i].Negatives)
				}
				for _, n := range a[i].Negatives {
					counts[n.Row]++
					if counts[n.Row] > maxFreq {
						t.Fatalf("trial %d: row %d chosen %d times, cap %d", trial, n.Row, counts[n.Row], maxFreq)
					}
				}
			}
		}
	})
}

func TestResolve(t *testing.T) {
	cases := []struct {
		name      string
		p         Params
		maxPos    int
		field     string // expected error field, "" for none
		rangeMax  int
		poolSize  int
		easyDraws int
	}{
		{"derived plain", Params{Mode: ModePairs, NumNegatives: 3}, 2, "", 5, 7, 0},
		{"derived with margin", Params{Mode: ModePairs, NumNegatives: 3, RangeMin: 4, RelativeMargin: f64(0.05)}, 1, "", 35, 36, 0},
		{"derived with max_score", Params{Mode: ModePairs, NumNegatives: 2, MaxScore: f64(0.9)}, 1, "", 21, 22, 0},
		{"labeled ignores positives", Params{Mode: ModeLabeled, NumNegatives: 2, AbsoluteMargin: f64(0)}, 9, "", 20, 20, 0},
		{"explicit range", Params{Mode: ModePairs, NumNegatives: 2, RangeMax: 50, EasyNegatives: 1}, 3, "", 50, 53, 1 + 53 + 3 + 1},
		{"self", Params{Mode: ModeSelf, NumNegatives: 1, FillWithEasy: true}, 0, "", 1, 1, 1 + 1 + 1},
		{"num_negatives zero", Params{Mode: ModePairs}, 1, "num_negatives", 0, 0, 0},
		{"range_min negative", Params{Mode: ModePairs, NumNegatives: 1, RangeMin: -1}, 1, "range_min", 0, 0, 0},
		{"range_min not below range_max", Params{Mode: ModePairs, NumNegatives: 1, RangeMin: 5, RangeMax: 5}, 1, "range_min", 0, 0, 0},
		{"window too small", Params{Mode: ModePairs, NumNegatives: 4, RangeMin: 2, RangeMax: 5}, 1, "num_negatives", 0, 0, 0},
		{"range_max negative", Params{Mode: ModePairs, NumNegatives: 1, RangeMax: -3}, 1, "range_max", 0, 0, 0},
		{"margin in self mode", Params{Mode: ModeSelf, NumNegatives: 1, RelativeMargin: f64(0.1)}, 0, "relative_margin", 0, 0, 0},
		{"min above max", Params{Mode: ModePairs, NumNegatives: 1, MinScore: f64(0.9), MaxScore: f64(0.1)}, 0, "min_score", 0, 0, 0},
		{"unknown mode", Params{Mode: "x", NumNegatives: 1}, 0, "mode", 0, 0, 0},
		{"unknown sampling", Params{Mode: ModePairs, NumNegatives: 1, Sampling: "best"}, 0, "sampling_strategy", 0, 0, 0},
		{"negative easy", Params{Mode: ModePairs, NumNegatives: 1, EasyNegatives: -1}, 0, "easy_negatives", 0, 0, 0},
		{"negative frequency", Params{Mode: ModePairs, NumNegatives: 1, MaxNegativeFrequency: -1}, 0, "max_negative_frequency", 0, 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			plan, err := tc.p.Resolve(tc.maxPos)
			if tc.field != "" {
				var pe *ParamError
				if !errors.As(err, &pe) || pe.Field != tc.field {
					t.Fatalf("error %v, want one about %s", err, tc.field)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if plan.RangeMax != tc.rangeMax || plan.PoolSize() != tc.poolSize || plan.EasyDraws() != tc.easyDraws {
				t.Fatalf("range_max %d, pool %d, easy draws %d; want %d, %d, %d",
					plan.RangeMax, plan.PoolSize(), plan.EasyDraws(), tc.rangeMax, tc.poolSize, tc.easyDraws)
			}
		})
	}
}
