package miner

import (
	"cmp"
	"context"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/hardneg/hardneg/miner/internal/kernel"
)

// withSeed runs f with the seed's prefix at most 1/share of the scan and at
// least room·K rows, and cache blocks small enough (sub-blocks of 96 rows
// and blocks of 480 at d = 32) that small corpora span several of each.
func withSeed(share, room int, f func()) {
	defer func(p, s, sh, r int) { packBytes, subBytes, seedShare, seedRoom = p, s, sh, r }(packBytes, subBytes, seedShare, seedRoom)
	packBytes, subBytes, seedShare, seedRoom = 16<<10, 4<<10, share, room
	f()
}

// quantizedSearch runs tile quantized with qe and returns the search.
func quantizedSearch(t *testing.T, qe *kernel.QEngine, tile Tile) *search {
	t.Helper()
	tile.Precision = Quantized
	var s *search
	var err error
	withQuantEngine(qe, func() { s, err = runSearch(context.Background(), tile) })
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// seeded is the number of queries of s that got a seed.
func seeded(s *search) int {
	n := 0
	for _, q := range s.q {
		if !math.IsInf(q.seed, -1) {
			n++
		}
	}
	return n
}

// off marks a seedCase whose queries are seeded from the first sub-block
// alone (no prefix).
const off = math.MaxInt

// seedCase is a case of TestQuantizedSeedEqualsExact.
type seedCase struct {
	name        string
	nq, nc, dim int
	k           int
	kind        genKind
	mode        Mode
	share, room int // the prefix (off: the first sub-block alone)
	// extra: "equal", every corpus row the same vector; "ints", integer
	// vectors that quantize exactly, so that B is far below the gaps
	// between scores; "floors", floors at the exact k/2-th score.
	extra  string
	seeded bool // whether queries get a seed
}

// TestQuantizedSeedEqualsExact checks that the seed (a lower bound on each
// query's final k-th score, from a prefix of the first block) never drops a
// row of the exact top k: on data where many rows tie at the k-th score,
// duplicated rows, k larger than a sub-block, k equal to the rows
// available, the query's own row scoring best (self mode), all rows equal,
// and with floors, with the prefix seed and with the first sub-block's, the
// quantized search gives the exact search's partials bit for bit with every
// int8 engine and one or three workers, and seeds applied where expected.
func TestQuantizedSeedEqualsExact(t *testing.T) {
	for _, tc := range []seedCase{
		{"random", 20, 2000, 32, 20, genRandom, ModePairs, 16, 4, "", true},
		{"ties at the k-th score", 20, 3000, 4, 60, genTies, ModePairs, 2, 4, "", true},
		{"ties, k near the prefix", 20, 1500, 5, 90, genTies, ModePairs, 1, 1, "", true},
		{"duplicates", 20, 2000, 32, 30, genDupes, ModePairs, 4, 4, "", true},
		{"near positives", 20, 2000, 32, 25, genNearPos, ModePairs, 4, 4, "", true},
		{"k larger than a sub-block", 20, 1500, 32, 110, genRandom, ModePairs, 1, 4, "", true},
		{"k the corpus size", 20, 480, 32, 480, genRandom, ModePairs, 1, 1, "", true},
		{"k the corpus size, ties", 20, 480, 32, 480, genTies, ModePairs, 1, 1, "", true},
		{"self best", 0, 600, 32, 20, genRandom, ModeSelf, 2, 4, "", true},
		{"self, k all other rows", 0, 192, 32, 191, genDupes, ModeSelf, 1, 1, "", true},
		{"self, ties", 0, 1008, 4, 30, genTies, ModeSelf, 1, 4, "", true},
		{"integers, k the corpus size", 20, 1008, 4, 1008, genRandom, ModePairs, 1, 1, "ints", true},
		{"integers, k the prefix", 20, 3000, 4, 1008, genRandom, ModePairs, 2, 1, "ints", true},
		{"integers, self, k all other rows", 0, 192, 32, 191, genRandom, ModeSelf, 1, 1, "ints", true},
		{"integers, self", 0, 600, 32, 40, genRandom, ModeSelf, 2, 4, "ints", true},
		{"all rows equal", 20, 1500, 32, 20, genRandom, ModePairs, 4, 4, "equal", true},
		{"floors", 20, 2000, 32, 20, genRandom, ModePairs, 4, 4, "floors", true},
		{"floors, ties", 20, 3000, 4, 60, genTies, ModePairs, 2, 4, "floors", true},
		{"first sub-block", 20, 2000, 32, 20, genRandom, ModePairs, off, 4, "", true},
		{"first sub-block, ties", 20, 3000, 4, 60, genTies, ModePairs, off, 4, "", true},
		{"first sub-block, self, k all other rows", 0, 96, 32, 95, genRandom, ModeSelf, off, 4, "ints", true},
		{"first sub-block, floors", 20, 2000, 32, 20, genDupes, ModePairs, off, 4, "floors", true},
		{"k above the first sub-block, no prefix", 20, 2000, 32, 97, genRandom, ModePairs, off, 4, "", false},
		{"prefix too short for k", 20, 2000, 32, 97, genRandom, ModePairs, 16, 4, "", false},
	} {
		t.Run(tc.name, tc.check)
	}
}

// check compares the quantized search with the exact one on the case's
// data, with every int8 engine and one or three workers.
func (tc seedCase) check(t *testing.T) {
	r := rand.New(rand.NewPCG(uint64(tc.nc), uint64(tc.k)))
	p := genProblem(r, tc.mode, tc.nq, tc.nc, tc.dim, tc.kind)
	switch tc.extra {
	case "ints":
		exactInts(r, p.c)
		if tc.mode != ModeSelf {
			exactInts(r, p.q)
		}
	case "equal":
		for i := range p.c.Rows {
			copy(p.c.Row(i), p.c.Row(0))
		}
	}
	tile := p.tile(700, tc.k)
	// The prefix's scores kept whole, kept 12 queries at a time (the
	// fewest kept, for prefixes up to withSeed's 480 rows), not kept.
	for _, keep := range []int{prefixKeep, 4 * 480 * prefixQueries, 0} {
		defer func(v int) { prefixKeep = v }(prefixKeep)
		prefixKeep = keep
		tc.checkSeeded(t, tile)
	}
}

// checkSeeded is check's comparison, with the prefix's scores kept as
// prefixKeep allows.
func (tc seedCase) checkSeeded(t *testing.T, tile Tile) {
	withSeed(tc.share, tc.room, func() {
		want, err := SearchTile(tile)
		if err != nil {
			t.Fatal(err)
		}
		if tc.extra == "floors" {
			tile.Floor = make([]float32, len(want))
			for i, w := range want {
				tile.Floor[i] = w.Top[tc.k/2].Score
			}
			if want, err = SearchTile(tile); err != nil {
				t.Fatal(err)
			}
		}
		for _, qe := range kernel.QEngines() {
			for _, workers := range []int{1, 3} {
				tile.Workers = workers
				s := quantizedSearch(t, qe, tile)
				for i := range want {
					if !reflect.DeepEqual(s.out[i], want[i]) {
						t.Fatalf("%s, %d workers, prefixKeep %d, query %d:\nquantized %+v\n    exact %+v", qe.Name, workers, prefixKeep, i, s.out[i], want[i])
					}
				}
				if n := seeded(s); (n > 0) != tc.seeded {
					t.Fatalf("%s, %d workers: %d queries seeded, want some: %v", qe.Name, workers, n, tc.seeded)
				}
			}
		}
	})
}

// exactInts fills m with integers in [−127, 127], each row with one ±127,
// which the int8 quantization represents exactly: the approximate scores
// are then within a rounding of the exact ones, far closer than distinct
// scores (integers) are to each other, so a bound off by one score shows.
func exactInts(r *rand.Rand, m Matrix) {
	for i := range m.Rows {
		row := m.Row(i)
		for d := range row {
			row[d] = float32(r.IntN(255) - 127)
		}
		row[r.IntN(len(row))] = float32(127 * (1 - 2*r.IntN(2)))
	}
}

// TestQuantizedSeedCutsRescoring checks that the seeds pay: on random unit
// vectors the quantized search scores exactly at most 80% of the rows it
// scores without seeds (0.60 measured) with the prefix seed, and fewer than
// without seeds with the first sub-block's alone, with the same results.
// The scan never gives up here: without seeds its first blocks rescore
// enough to stop it on these small blocks, and what it did not scan would
// not be counted.
func TestQuantizedSeedCutsRescoring(t *testing.T) {
	defer func() { giveUp = true }()
	giveUp = false
	q, c := benchData(48, 30000, 32)
	tile := Tile{Queries: q, Corpus: c, K: 20, Workers: 2}
	for _, qe := range kernel.QEngines() {
		var prefix, first, none *search
		withSeed(16, 4, func() { prefix = quantizedSearch(t, qe, tile) })
		withSeed(math.MaxInt, 4, func() { first = quantizedSearch(t, qe, tile) })
		withSeed(16, 4, func() {
			defer func() { seeds = true }()
			seeds = false
			none = quantizedSearch(t, qe, tile)
		})
		if !reflect.DeepEqual(prefix.out, none.out) || !reflect.DeepEqual(first.out, none.out) {
			t.Fatalf("%s: results differ with the seeds", qe.Name)
		}
		if seeded(prefix) != q.Rows || seeded(first) != q.Rows || seeded(none) != 0 {
			t.Fatalf("%s: %d, %d and %d of %d queries seeded, want all, all and none", qe.Name, seeded(prefix), seeded(first), seeded(none), q.Rows)
		}
		ratio := float64(prefix.rescored()) / float64(none.rescored())
		t.Logf("%s: %d rows scored exactly with the prefix seed, %d with the first sub-block's, %d without (%.2f)",
			qe.Name, prefix.rescored(), first.rescored(), none.rescored(), ratio)
		if ratio > 0.8 {
			t.Errorf("%s: the prefix seed leaves %.2f of the rows scored exactly, want at most 0.80", qe.Name, ratio)
		}
		if first.rescored() >= none.rescored() {
			t.Errorf("%s: the first sub-block's seed scores %d rows exactly, no fewer than %d without", qe.Name, first.rescored(), none.rescored())
		}
	}
}

// TestTopRows checks the seed's candidates against sorting: for every k,
// topRows keeps k rows of largest score, without the skipped row, and
// selectKeys puts k largest first and returns the k-th.
func TestTopRows(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	n := 0
	for _, tc := range []struct {
		name string
		gen  func() float32
	}{
		{"random", func() float32 { return float32(r.NormFloat64()) }},
		{"ties", func() float32 { return float32(r.IntN(3)) }},
		{"equal", func() float32 { return 1 }},
		{"rising", func() float32 { n++; return float32(n) }}, // every row enters
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := make([]float32, 300)
			for i := range a {
				a[i] = tc.gen()
			}
			rest := append(append([]float32(nil), a[:17]...), a[18:]...)
			slices.Sort(rest)
			for _, k := range []int{1, 2, 7, 100, 299, 300} {
				tr := topRows{buf: make([]approxRow, 2*k), thr: float32(math.Inf(-1))}
				tr.add(a[:120], 0, 17, k)
				tr.add(a[120:], 120, 17, k)
				top := tr.top(k)
				if k > len(rest) {
					if top != nil {
						t.Fatalf("k=%d: %d rows for %d candidates", k, len(top), len(rest))
					}
					continue
				}
				got := make([]float32, len(top))
				seen := map[int32]bool{}
				for i, v := range top {
					got[i] = v.score()
					if v.row() == 17 || a[v.row()] != v.score() || seen[v.row()] {
						t.Fatalf("k=%d: row %d with %v kept (twice: %v)", k, v.row(), v.score(), seen[v.row()])
					}
					seen[v.row()] = true
				}
				slices.Sort(got)
				if want := rest[len(rest)-k:]; !reflect.DeepEqual(got, want) {
					t.Fatalf("k=%d: kept %v, want %v", k, got, want)
				}
				v := make([]approxRow, len(a))
				for i := range a {
					v[i] = newApproxRow(a[i], int32(i))
				}
				sorted := slices.Sorted(slices.Values(a))
				byScore := func(x, y approxRow) int { return cmp.Compare(x.score(), y.score()) }
				if kth := selectKeys(v, k).score(); kth != sorted[len(a)-k] || slices.MinFunc(v[:k], byScore).score() != kth ||
					slices.MaxFunc(v[k:], byScore).score() > kth {
					t.Fatalf("k=%d: selectKeys returned %v, want %v, or left a larger row behind", k, kth, sorted[len(a)-k])
				}
			}
		})
	}
}
