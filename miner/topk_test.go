package miner

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/hardneg/hardneg/miner/internal/kernel"
)

// withBufferFrom runs f with the top k's cut-over from heap to buffer at k.
func withBufferFrom(k int, f func()) {
	defer func(old int) { bufferFrom = old }(bufferFrom)
	bufferFrom = k
	f()
}

// topKModes are the cut-overs that force each way of keeping a top k.
var topKModes = []struct {
	name string
	from int
}{{"heap", math.MaxInt}, {"buffer", 1}}

// sameBits reports whether a and b hold the same rows and the same scores
// bit for bit (slices.Equal takes −0 for +0).
func sameBits(a, b []Candidate) bool {
	return slices.EqualFunc(a, b, func(x, y Candidate) bool {
		return x.Row == y.Row && math.Float32bits(x.Score) == math.Float32bits(y.Score)
	})
}

// TestTopKMatchesSort offers random candidates with many ties (and both
// zeros) to a top k, in row order and shuffled, with and without a floor,
// with a buffer's slack of k, k/4 (the quantized search's) and 1, and
// checks its list against the definition: every candidate at or above the
// floor, sorted by Better, the first k. It also checks the gate at every
// step: each candidate of the final list is at least as good as it.
func TestTopKMatchesSort(t *testing.T) {
	zero := float32(0)
	negZero := float32(math.Copysign(0, -1))
	for _, mode := range topKModes {
		for _, k := range []int{1, 2, 7, 100, 1000, 5000} {
			for i, slack := range []int{k, max(1, k/quantSlack), 1} {
				if i > 0 && mode.name == "heap" {
					break // a heap has no slack
				}
				for _, c := range []struct{ shuffled, floored bool }{{false, false}, {false, true}, {true, false}, {true, true}} {
					shuffled, floored := c.shuffled, c.floored
					name := fmt.Sprintf("%s/k=%d/slack=%d/shuffled=%v/floor=%v", mode.name, k, slack, shuffled, floored)
					t.Run(name, func(t *testing.T) {
						r := rand.New(rand.NewPCG(uint64(k), uint64(mode.from)))
						n := 3*k + r.IntN(500)
						const base = 1 << 40
						all := make([]Candidate, n)
						for i := range all {
							// A handful of values, so most scores tie.
							vals := []float32{-1.5, -0.25, negZero, zero, 0.5, 0.75, 2}
							all[i] = Candidate{Row: base + int64(i), Score: vals[r.IntN(len(vals))]}
						}
						order := slices.Clone(all)
						if shuffled {
							r.Shuffle(n, func(i, j int) { order[i], order[j] = order[j], order[i] })
						}
						var got []Candidate
						var gates []Candidate
						withBufferFrom(mode.from, func() {
							tk := newTopK(k, slack, make([]Candidate, 0, min(k, n)), base, n)
							if floored {
								tk.setFloor(0) // −0 and +0 are at the floor
							}
							for _, c := range order {
								offer(&tk, c.Row, c.Score)
								if tk.gated {
									gates = append(gates, tk.gate)
								}
							}
							if tk.buffered != (mode.from == 1) {
								t.Fatalf("buffered = %v in mode %s", tk.buffered, mode.name)
							}
							got = tk.sorted()
						})
						scores := make([]float32, n)
						for i, c := range all {
							scores[i] = c.Score
						}
						// all is in row order: refTop's rows are indices into it.
						want := refTop(scores, 0, k, func(i int64) bool { return !floored || all[i].Score >= 0 })
						for i := range want {
							want[i] = all[want[i].Row]
						}
						if !sameBits(got, want) {
							t.Fatalf("got %d candidates %v\nwant %d %v", len(got), head(got), len(want), head(want))
						}
						for _, g := range gates {
							if w := got[len(got)-1]; Better(g, w) {
								t.Fatalf("gate %v is better than the final k-th %v", g, w)
							}
						}
					})
				}
			}
		}
	}
}

// head is the start of a list, to print.
func head(c []Candidate) []Candidate { return c[:min(len(c), 12)] }

// TestTopKKeysOrderAsBetter checks that keys compare as Better does and
// give back the candidate bit for bit, at the ends of the rows a tile can
// hold and of the scores.
func TestTopKKeysOrderAsBetter(t *testing.T) {
	const base = 77
	tk := topK{base: base}
	scores := []float32{float32(math.Inf(-1)), -math.MaxFloat32, -1, -math.SmallestNonzeroFloat32,
		float32(math.Copysign(0, -1)), 0, math.SmallestNonzeroFloat32, 1, math.MaxFloat32, float32(math.Inf(1))}
	rows := []int64{base, base + 1, base + 12345, base + maxKeyRows - 2, base + maxKeyRows - 1}
	var cs []Candidate
	for _, s := range scores {
		for _, r := range rows {
			cs = append(cs, Candidate{Row: r, Score: s})
		}
	}
	for _, a := range cs {
		ka := tk.keyOf(a)
		if back := tk.candidateOf(ka); !sameBits([]Candidate{back}, []Candidate{a}) {
			t.Fatalf("%v came back as %v", a, back)
		}
		for _, b := range cs {
			if a.Row == b.Row {
				continue // rows are distinct among a top k's candidates
			}
			if kb := tk.keyOf(b); (ka > kb) != Better(a, b) {
				t.Fatalf("keys of %v and %v: %#x > %#x is %v, Better is %v", a, b, ka, kb, ka > kb, Better(a, b))
			}
		}
	}
}

// TestSearchTopKModes runs searches with the top k kept in a heap and in a
// buffer, exact and quantized, in every mode, with floors, and checks both
// against the brute-force reference bit for bit, at k around and above
// the buffer's room and the shard's size.
func TestSearchTopKModes(t *testing.T) {
	cases := []struct {
		name  string
		k, nc int
		mode  Mode
		kind  genKind
	}{
		{"pairs k=1", 1, 1500, ModePairs, genTies},
		{"pairs k=7", 7, 1500, ModePairs, genRandom},
		{"pairs k=300", 300, 1500, ModePairs, genTies},
		{"pairs k=700", 700, 1500, ModePairs, genDupes},
		{"pairs k=5000", 5000, 1500, ModePairs, genRandom},
		{"self k=250", 250, 400, ModeSelf, genDupes},
		{"labeled k=200", 200, 1500, ModeLabeled, genTies},
	}
	for _, tc := range cases {
		r := rand.New(rand.NewPCG(uint64(tc.k), 9))
		p := genProblem(r, tc.mode, 13, tc.nc, 6, tc.kind)
		scores := refScores(p.q, p.c)
		const base = 300
		for _, floored := range []bool{false, true} {
			tile := p.tile(base, tc.k)
			var floors []float32
			if floored {
				floors = make([]float32, p.q.Rows)
				for i := range floors {
					floors[i] = scores[i][r.IntN(p.c.Rows)] // at any rank; some queries keep few
				}
				floors[0] = float32(math.NaN())
				tile.Floor = floors
			}
			for _, prec := range []Precision{Exact, Quantized} {
				tile.Precision = prec
				for _, m := range topKModes {
					t.Run(fmt.Sprintf("%s/floor=%v/%s/%s", tc.name, floored, prec, m.name), func(t *testing.T) {
						var got []Partial
						withBufferFrom(m.from, func() {
							var err error
							if got, err = SearchTile(tile); err != nil {
								t.Fatal(err)
							}
						})
						for i := range got {
							admit := func(row int64) bool {
								if tile.QueryRows != nil && row == tile.QueryRows[i] ||
									floored && scores[i][row-base] < floors[i] {
									return false
								}
								return p.qLabels == nil || p.cLabels[row-base] != p.qLabels[i]
							}
							if want := refTop(scores[i], base, tc.k, admit); !sameBits(got[i].Top, want) {
								t.Fatalf("query %d: top\n got %v\nwant %v", i, head(got[i].Top), head(want))
							}
						}
					})
				}
			}
		}
	}
}

// BenchmarkTopK offers the scores of one query against 50,000 random rows,
// in row order and skipping as the search does, to a top k kept each way:
// what bufferFrom is chosen by.
func BenchmarkTopK(b *testing.B) {
	const n = 50000
	r := rand.New(rand.NewPCG(1, 2))
	scores := make([]float32, n)
	for i := range scores {
		scores[i] = float32(r.NormFloat64())
	}
	store := make([]Candidate, 0, n)
	for _, k := range []int{1, 10, 16, 24, 32, 48, 64, 100, 1000} {
		for _, m := range topKModes {
			b.Run(fmt.Sprintf("k=%d/%s", k, m.name), func(b *testing.B) {
				withBufferFrom(m.from, func() {
					for b.Loop() {
						tk := newTopK(k, k, store[:0:min(k, n)], 0, n)
						for j := 0; j < n; j++ { // as search.collect
							if th, ok := tk.threshold(); ok {
								if j += kernel.FirstAtLeast(scores[j:], th); j == n {
									break
								}
							}
							offer(&tk, int64(j), scores[j])
						}
						tk.sorted()
					}
				})
			})
		}
	}
}
