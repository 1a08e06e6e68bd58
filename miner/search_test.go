package miner

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"unsafe"
)

func TestSearchTileMatchesBruteForce(t *testing.T) {
	cases := []struct {
		name        string
		nq, nc, dim int
		k           int
		kind        genKind
		mode        Mode
	}{
		{"random", 37, 300, 16, 10, genRandom, ModePairs},
		{"ties", 20, 200, 4, 15, genTies, ModePairs},
		{"duplicate vectors", 20, 150, 8, 30, genDupes, ModePairs},
		{"k larger than corpus", 9, 7, 5, 50, genRandom, ModePairs},
		{"k zero", 5, 40, 3, 0, genRandom, ModePairs},
		{"empty queries", 0, 40, 3, 5, genRandom, ModePairs},
		{"empty corpus", 6, 0, 3, 5, genRandom, ModePairs},
		{"dimension one", 10, 600, 1, 7, genTies, ModePairs},
		{"wide", 6, 70, 384, 9, genRandom, ModePairs},
		{"self", 0, 90, 6, 8, genDupes, ModeSelf},
		{"labeled", 25, 260, 5, 12, genTies, ModeLabeled},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(tc.nq), uint64(tc.nc)))
			p := genProblem(r, tc.mode, tc.nq, tc.nc, tc.dim, tc.kind)
			const base = 1000
			tile := p.tile(base, tc.k)
			got, err := SearchTile(tile)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != p.q.Rows {
				t.Fatalf("%d results for %d queries", len(got), p.q.Rows)
			}
			scores := refScores(p.q, p.c)
			for i := range got {
				admit := func(row int64) bool {
					if tile.QueryRows != nil && row == tile.QueryRows[i] {
						return false
					}
					return p.qLabels == nil || p.cLabels[row-base] != p.qLabels[i]
				}
				want := refTop(scores[i], base, tc.k, admit)
				if !slices.Equal(got[i].Top, want) {
					t.Fatalf("query %d: top\n got %v\nwant %v", i, got[i].Top, want)
				}
				if p.positives != nil {
					var wantPos []Candidate
					for _, r := range p.inCorpusPositives(i) {
						wantPos = append(wantPos, Candidate{Row: r + base, Score: scores[i][r]})
					}
					if !slices.Equal(got[i].Positives, wantPos) {
						t.Fatalf("query %d: positives\n got %v\nwant %v", i, got[i].Positives, wantPos)
					}
				}
				if p.qLabels != nil {
					var want SameLabel
					for j, l := range p.cLabels {
						if l == p.qLabels[i] {
							if want.Count == 0 || scores[i][j] < want.Min {
								want.Min = scores[i][j]
							}
							want.Count++
						}
					}
					if got[i].SameLabel != want {
						t.Fatalf("query %d: same label %+v, want %+v", i, got[i].SameLabel, want)
					}
				}
			}
		})
	}
}

// tile is the whole problem as one tile whose corpus starts at global row
// base: queries, corpus, positives, labels and the queries' own rows.
func (p problem) tile(base int64, k int) Tile {
	t := Tile{Queries: p.q, Corpus: p.c, Base: base, K: k, Positives: shift(p.positives, base)}
	if p.qLabels != nil {
		t.QueryLabels, t.CorpusLabels = p.qLabels, p.cLabels
	}
	if p.queryRows != nil {
		t.QueryRows = shift([][]int64{p.queryRows}, base)[0]
	}
	return t
}

// shift adds base to every row number.
func shift(rows [][]int64, base int64) [][]int64 {
	if rows == nil {
		return nil
	}
	out := make([][]int64, len(rows))
	for i, rs := range rows {
		for _, r := range rs {
			out[i] = append(out[i], r+base)
		}
	}
	return out
}

func TestSearchTileRejectsBadInput(t *testing.T) {
	good := Tile{Queries: NewMatrix(2, 3), Corpus: NewMatrix(4, 3), K: 1}
	cases := map[string]func(*Tile){
		"dimension mismatch": func(t *Tile) { t.Corpus = NewMatrix(4, 2) },
		"short data":         func(t *Tile) { t.Queries.Data = t.Queries.Data[:5] },
		"nan":                func(t *Tile) { t.Corpus.Data[3] = float32(math.NaN()) },
		"inf":                func(t *Tile) { t.Queries.Data[1] = float32(math.Inf(-1)) },
		"negative k":         func(t *Tile) { t.K = -1 },
		"one-sided labels":   func(t *Tile) { t.QueryLabels = []int32{1, 2} },
		"label count":        func(t *Tile) { t.QueryLabels, t.CorpusLabels = []int32{1, 2}, []int32{1} },
		"positives count":    func(t *Tile) { t.Positives = [][]int64{{1}} },
		"query rows count":   func(t *Tile) { t.QueryRows = []int64{1} },
		"shard beyond corpus": func(t *Tile) {
			t.EasySeeds, t.EasyDraws, t.CorpusRows, t.Base = []uint64{1, 2}, 3, 4, 1
		},
	}
	if _, err := SearchTile(good); err != nil {
		t.Fatalf("good tile: %v", err)
	}
	for name, spoil := range cases {
		tile := good
		tile.Corpus = NewMatrix(4, 3)
		tile.Queries = NewMatrix(2, 3)
		spoil(&tile)
		if _, err := SearchTile(tile); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestMergeEqualsWholeSearch is the property the tiling rests on: for random
// shardings of the corpus and random query blocks, merging the tiles gives
// exactly the search over the whole corpus, in every mode, including the
// positives, the same-label summary and the easy draws; also when each tile
// is searched with the floors raised by the tiles of its block before it.
func TestMergeEqualsWholeSearch(t *testing.T) {
	for trial := range 30 {
		r := rand.New(rand.NewPCG(uint64(trial), 99))
		mode := []Mode{ModePairs, ModeLabeled, ModeSelf}[trial%3]
		kind := genKind(trial % 4)
		p := genProblem(r, mode, 1+r.IntN(30), 1+r.IntN(200), 1+r.IntN(20), kind)
		plan, err := Params{Mode: mode, NumNegatives: 1 + r.IntN(5), RangeMin: r.IntN(3), EasyNegatives: r.IntN(4), FillWithEasy: r.IntN(2) == 0}.Resolve(p.maxPositives())
		if err != nil {
			t.Fatal(err)
		}
		whole := p.mine(t, plan, [][2]int{{0, p.c.Rows}}, [][2]int{{0, p.q.Rows}}, 0)
		sharded := p.mine(t, plan, cuts(r, p.c.Rows), cuts(r, p.q.Rows), 1+r.IntN(3))
		floored := p.mineFloors(t, plan, cuts(r, p.c.Rows), cuts(r, p.q.Rows), 1+r.IntN(3), r)
		for i := range whole {
			if !equalPartial(whole[i], sharded[i]) {
				t.Fatalf("trial %d (%s), query %d:\nwhole   %+v\nsharded %+v", trial, mode, i, whole[i], sharded[i])
			}
			if !equalPartial(whole[i], floored[i]) {
				t.Fatalf("trial %d (%s), query %d, shards with floors:\nwhole   %+v\nsharded %+v", trial, mode, i, whole[i], floored[i])
			}
		}
	}
}

func equalPartial(a, b Partial) bool {
	return slices.Equal(a.Top, b.Top) && slices.Equal(a.Positives, b.Positives) &&
		a.SameLabel == b.SameLabel && slices.Equal(a.Easy, b.Easy)
}

func TestMergeTop(t *testing.T) {
	a := []Candidate{{5, 0.9}, {1, 0.5}, {7, 0.5}}
	b := []Candidate{{2, 0.9}, {3, 0.5}, {0, 0.1}}
	got := MergeTop(4, a, nil, b)
	want := []Candidate{{2, 0.9}, {5, 0.9}, {1, 0.5}, {3, 0.5}}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if got := MergeTop(10, a, a); !slices.Equal(got, a) {
		t.Fatalf("repeated list: got %v, want %v", got, a)
	}
	if got := MergeTop(3); len(got) != 0 {
		t.Fatalf("no lists: got %v", got)
	}
}

// TestDeterministicAcrossProcs checks that results do not depend on the
// number of cores: GOMAXPROCS 1 and 2, and several worker counts.
func TestDeterministicAcrossProcs(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	p := genProblem(r, ModePairs, 150, 700, 12, genTies)
	plan, err := Params{Mode: ModePairs, NumNegatives: 4, EasyNegatives: 2, Sampling: SamplingRandom, MaxNegativeFrequency: 3}.Resolve(p.maxPositives())
	if err != nil {
		t.Fatal(err)
	}
	run := func(procs, workers int) []Row {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		merged := p.mine(t, plan, [][2]int{{0, 300}, {300, 700}}, [][2]int{{0, 150}}, workers)
		return p.pick(plan, merged)
	}
	want := run(1, 0)
	for _, c := range []struct{ procs, workers int }{{2, 0}, {2, 2}, {2, 5}, {1, 3}} {
		got := run(c.procs, c.workers)
		for i := range want {
			if !slices.Equal(got[i].Negatives, want[i].Negatives) {
				t.Fatalf("GOMAXPROCS %d, workers %d, query %d: %v, want %v", c.procs, c.workers, i, got[i].Negatives, want[i].Negatives)
			}
		}
	}
}

func TestScoreRowsMatchesSearch(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 1))
	q := genMatrix(r, 1, 33, genRandom)
	c := genMatrix(r, 50, 33, genRandom)
	res, err := SearchTile(Tile{Queries: q, Corpus: c, Base: 100, K: 50})
	if err != nil {
		t.Fatal(err)
	}
	byRow := map[int64]float32{}
	for _, cand := range res[0].Top {
		byRow[cand.Row] = cand.Score
	}
	got := ScoreRows(q.Row(0), c, 100, []int64{149, 3, 100, 120, 150}, nil)
	if len(got) != 3 {
		t.Fatalf("got %d scores, want 3 (rows outside the shard skipped)", len(got))
	}
	for _, g := range got {
		if byRow[g.Row] != g.Score {
			t.Fatalf("row %d: ScoreRows %v, search %v", g.Row, g.Score, byRow[g.Row])
		}
	}
}

func TestSearchTileContextStopsWhenCancelled(t *testing.T) {
	for _, p := range []Precision{Exact, Quantized} {
		q, c := NewMatrix(64, 32), NewMatrix(200_000, 32)
		for i := range q.Data {
			q.Data[i] = float32(i%7) - 3
		}
		for i := range c.Data {
			c.Data[i] = float32(i%11) - 5
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		parts, err := SearchTileContext(ctx, Tile{Queries: q, Corpus: c, K: 10, Precision: p})
		if !errors.Is(err, context.Canceled) || parts != nil {
			t.Errorf("%s: cancelled search = %d partials, %v; want none and context.Canceled", p, len(parts), err)
		}
		if _, err := SearchTileContext(context.Background(), Tile{Queries: q, Corpus: c, K: 10, Precision: p}); err != nil {
			t.Errorf("%s: search = %v", p, err)
		}
	}
}

// TestQueryApart checks that the query Gather reads is, where d is a
// multiple of 512, an exact copy placed 2,304 bytes from the block's rows
// modulo 4 KiB, made once per query and block, and elsewhere the query
// itself.
func TestQueryApart(t *testing.T) {
	var sc scratch
	data := make([]float32, 8*1024)
	for _, dim := range []int{1, 384, 768} {
		q := make([]float32, dim)
		if got := sc.queryApart(0, q, data); &got[0] != &q[0] {
			t.Fatalf("dim %d: the query was copied", dim)
		}
	}
	for _, dim := range []int{512, 1024, 1536, 2048} {
		for _, off := range []int{0, 1, 700} { // blocks starting anywhere in data
			q := make([]float32, dim)
			for i := range q {
				q[i] = float32(i + off)
			}
			block := data[off:]
			got := sc.queryApart(dim+off, q, block)
			if &got[0] == &q[0] || !slices.Equal(got, q) {
				t.Fatalf("dim %d off %d: the copy differs from the query", dim, off)
			}
			apart := (uintptr(unsafe.Pointer(&got[0])) - uintptr(unsafe.Pointer(&block[0]))) % 4096
			if apart != 2304 {
				t.Fatalf("dim %d off %d: the copy is %d bytes from the rows modulo 4 KiB, want 2304", dim, off, apart)
			}
			q[0] = -1 // a query's values do not change within a search
			if again := sc.queryApart(dim+off, q, block); again[0] == -1 {
				t.Fatalf("dim %d off %d: copied again for the same query and block", dim, off)
			}
		}
	}
}
