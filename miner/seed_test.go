package miner

import (
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

// rescored is the number of rows s scored exactly in its scan.
func rescored(s *search) int64 {
	var n int64
	for _, sc := range s.scratch {
		n += sc.rescored
	}
	return n
}

// TestQuantizedSeedEqualsExact checks that the seed (a lower bound on each
// query's final k-th score, from a prefix of the first block) never drops a
// row of the exact top k: on data where many rows tie at the k-th score,
// duplicated rows, k larger than a sub-block, k equal to the rows
// available, the query's own row scoring best (self mode), all rows equal,
// and with floors, the quantized search gives the exact search's partials
// bit for bit with every int8 engine and one or three workers, and the seed
// did apply.
func TestQuantizedSeedEqualsExact(t *testing.T) {
	cases := []struct {
		name        string
		nq, nc, dim int
		k           int
		kind        genKind
		mode        Mode
		share, room int
		equal       bool // every corpus row the same vector
		ints        bool // integer vectors that quantize exactly: B far below the gaps between scores
		floor       bool // floors at the exact k/2-th score
	}{
		{"random", 20, 2000, 32, 20, genRandom, ModePairs, 16, 4, false, false, false},
		{"ties at the k-th score", 20, 3000, 4, 60, genTies, ModePairs, 2, 4, false, false, false},
		{"ties, k near the prefix", 20, 1500, 5, 90, genTies, ModePairs, 1, 1, false, false, false},
		{"duplicates", 20, 2000, 32, 30, genDupes, ModePairs, 4, 4, false, false, false},
		{"near positives", 20, 2000, 32, 25, genNearPos, ModePairs, 4, 4, false, false, false},
		{"k larger than a sub-block", 20, 1500, 32, 110, genRandom, ModePairs, 1, 4, false, false, false},
		{"k the corpus size", 20, 480, 32, 480, genRandom, ModePairs, 1, 1, false, false, false},
		{"k the corpus size, ties", 20, 480, 32, 480, genTies, ModePairs, 1, 1, false, false, false},
		{"self best", 0, 600, 32, 20, genRandom, ModeSelf, 2, 4, false, false, false},
		{"self, k all other rows", 0, 192, 32, 191, genDupes, ModeSelf, 1, 1, false, false, false},
		{"self, ties", 0, 1008, 4, 30, genTies, ModeSelf, 1, 4, false, false, false},
		{"integers, k the corpus size", 20, 1008, 4, 1008, genRandom, ModePairs, 1, 1, false, true, false},
		{"integers, k the prefix", 20, 3000, 4, 1008, genRandom, ModePairs, 2, 1, false, true, false},
		{"integers, self, k all other rows", 0, 192, 32, 191, genRandom, ModeSelf, 1, 1, false, true, false},
		{"integers, self", 0, 600, 32, 40, genRandom, ModeSelf, 2, 4, false, true, false},
		{"all rows equal", 20, 1500, 32, 20, genRandom, ModePairs, 4, 4, true, false, false},
		{"floors", 20, 2000, 32, 20, genRandom, ModePairs, 4, 4, false, false, true},
		{"floors, ties", 20, 3000, 4, 60, genTies, ModePairs, 2, 4, false, false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(tc.nc), uint64(tc.k)))
			p := genProblem(r, tc.mode, tc.nq, tc.nc, tc.dim, tc.kind)
			if tc.ints {
				exactInts(r, p.c)
				if tc.mode != ModeSelf {
					exactInts(r, p.q)
				}
			}
			if tc.equal {
				for i := range p.c.Rows {
					copy(p.c.Row(i), p.c.Row(0))
				}
			}
			tile := p.tile(700, tc.k)
			withSeed(tc.share, tc.room, func() {
				want, err := SearchTile(tile)
				if err != nil {
					t.Fatal(err)
				}
				if tc.floor {
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
								t.Fatalf("%s, %d workers, query %d:\nquantized %+v\n    exact %+v", qe.Name, workers, i, s.out[i], want[i])
							}
						}
						if seeded(s) == 0 {
							t.Fatalf("%s, %d workers: no query was seeded", qe.Name, workers)
						}
					}
				}
			})
		})
	}
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

// TestQuantizedSeedCutsRescoring checks that the seed pays: on random unit
// vectors the quantized search with it scores exactly at most 80% of the
// rows it scores without (0.60 measured), with the same results.
func TestQuantizedSeedCutsRescoring(t *testing.T) {
	q, c := benchData(48, 30000, 32)
	tile := Tile{Queries: q, Corpus: c, K: 20, Workers: 2}
	for _, qe := range kernel.QEngines() {
		var with, without *search
		withSeed(16, 4, func() { with = quantizedSearch(t, qe, tile) })
		withSeed(math.MaxInt, 4, func() { without = quantizedSearch(t, qe, tile) })
		if !reflect.DeepEqual(with.out, without.out) {
			t.Fatalf("%s: results differ with the seed", qe.Name)
		}
		if seeded(with) != q.Rows || seeded(without) != 0 {
			t.Fatalf("%s: %d and %d of %d queries seeded, want all and none", qe.Name, seeded(with), seeded(without), q.Rows)
		}
		ratio := float64(rescored(with)) / float64(rescored(without))
		t.Logf("%s: %d rows scored exactly with the seed, %d without (%.2f)", qe.Name, rescored(with), rescored(without), ratio)
		if ratio > 0.8 {
			t.Errorf("%s: the seed leaves %.2f of the rows scored exactly, want at most 0.80", qe.Name, ratio)
		}
	}
}

// TestKeepLargest checks the seed's min-heap against sorting: it keeps the
// n largest values, without the skipped row, for every heap size.
func TestKeepLargest(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		name string
		gen  func() float32
	}{
		{"random", func() float32 { return float32(r.NormFloat64()) }},
		{"ties", func() float32 { return float32(r.IntN(3)) }},
		{"equal", func() float32 { return 1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := make([]float32, 300)
			for i := range a {
				a[i] = tc.gen()
			}
			for _, k := range []int{1, 2, 7, 100, 299, 300} {
				h := make([]approxRow, k)
				n := keepLargest(h, 0, a[:120], 0, 17)
				n = keepLargest(h, n, a[120:], 120, 17)
				got := make([]float32, n)
				for i, v := range h[:n] {
					got[i] = v.a
					if v.row == 17 || a[v.row] != v.a {
						t.Fatalf("k=%d: heap holds row %d with %v", k, v.row, v.a)
					}
				}
				rest := append(append([]float32(nil), a[:17]...), a[18:]...)
				slices.Sort(rest)
				slices.Sort(got)
				if want := rest[max(0, len(rest)-k):]; !reflect.DeepEqual(got, want) {
					t.Fatalf("k=%d: kept %v, want %v", k, got, want)
				}
			}
		})
	}
}
