package miner

import (
	"github.com/hardneg/hardneg/miner/internal/kernel"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
)

// This file holds the plain brute-force reference the tests compare with,
// and generators of random and adversarial data.

// refDot scores one pair with the arithmetic of this process's kernel
// engine, written plainly in Go (kernel.Engine.Pair): for the portable
// engine, in order with one rounding per product and per sum; for the SIMD
// engines, one chain of fused multiply-adds in order. The search must give
// these scores bit for bit.
func refDot(a, b []float32) float32 {
	return kernel.Selected.Pair(a, b)
}

// refScores returns all query × corpus scores.
func refScores(q, c Matrix) [][]float32 {
	out := make([][]float32, q.Rows)
	for i := range out {
		out[i] = make([]float32, c.Rows)
		for j := range out[i] {
			out[i][j] = refDot(q.Row(i), c.Row(j))
		}
	}
	return out
}

// refTop sorts every admissible candidate and keeps k: the definition of an
// exact top-k with ties broken by row.
func refTop(scores []float32, base int64, k int, admit func(row int64) bool) []Candidate {
	var all []Candidate
	for j, s := range scores {
		r := base + int64(j)
		if admit == nil || admit(r) {
			all = append(all, Candidate{Row: r, Score: s})
		}
	}
	slices.SortFunc(all, func(a, b Candidate) int {
		if Better(a, b) {
			return -1
		}
		if Better(b, a) {
			return 1
		}
		return 0
	})
	return all[:min(k, len(all))]
}

// problem is a whole mining problem: queries, corpus, and the mode's extras.
type problem struct {
	q, c      Matrix
	positives [][]int64 // pairs mode
	qLabels   []int32   // labeled mode
	cLabels   []int32
	queryRows []int64 // self mode
	seeds     []uint64
}

// genKind selects the shape of generated data.
type genKind int

const (
	genRandom  genKind = iota
	genTies            // values from a tiny set: many equal scores
	genDupes           // many identical vectors
	genNearPos         // negatives very close to the positives
)

func genMatrix(r *rand.Rand, rows, dim int, kind genKind) Matrix {
	m := NewMatrix(rows, dim)
	switch kind {
	case genTies:
		for i := range m.Data {
			m.Data[i] = float32(r.IntN(3) - 1)
		}
	case genDupes:
		proto := NewMatrix(max(1, rows/5), dim)
		for i := range proto.Data {
			proto.Data[i] = float32(r.NormFloat64())
		}
		for i := 0; i < rows; i++ {
			copy(m.Row(i), proto.Row(r.IntN(proto.Rows)))
		}
	default:
		for i := range m.Data {
			m.Data[i] = float32(r.NormFloat64())
		}
	}
	return m
}

// genProblem makes a problem in the given mode with nq queries and nc corpus
// rows.
func genProblem(r *rand.Rand, mode Mode, nq, nc, dim int, kind genKind) problem {
	var p problem
	p.c = genMatrix(r, nc, dim, kind)
	switch mode {
	case ModeSelf:
		p.q = p.c
		p.queryRows = make([]int64, nc)
		for i := range p.queryRows {
			p.queryRows[i] = int64(i)
		}
		nq = nc
	default:
		p.q = genMatrix(r, nq, dim, kind)
	}
	if kind == genNearPos && nc > 0 {
		// Make each query close to a few corpus rows, then call them positives.
		for i := 0; i < nq && mode != ModeSelf; i++ {
			j := r.IntN(nc)
			for d := range dim {
				p.q.Row(i)[d] = p.c.Row(j)[d] + float32(r.NormFloat64()*0.05)
			}
		}
	}
	switch mode {
	case ModePairs:
		p.positives = make([][]int64, nq)
		for i := range p.positives {
			n := r.IntN(4)
			if r.IntN(8) == 0 {
				n = 12 // many positives
			}
			for range n {
				if nc > 0 && r.IntN(10) > 0 {
					p.positives[i] = append(p.positives[i], int64(r.IntN(nc)))
				} else {
					p.positives[i] = append(p.positives[i], int64(nc+r.IntN(5))) // not in the corpus
				}
			}
		}
	case ModeLabeled:
		labels := 1 + r.IntN(6)
		p.qLabels = make([]int32, nq)
		p.cLabels = make([]int32, nc)
		for i := range p.qLabels {
			p.qLabels[i] = int32(r.IntN(labels))
		}
		for i := range p.cLabels {
			p.cLabels[i] = int32(r.IntN(labels))
		}
	}
	p.seeds = make([]uint64, p.q.Rows)
	for i := range p.seeds {
		p.seeds[i] = QuerySeed(7, "run", 3, strconv.Itoa(i))
	}
	return p
}

// labeledSelf makes a self-mode problem whose rows carry labels: every
// corpus row is a query, positives are the other rows of its label.
func labeledSelf(r *rand.Rand, nc, dim int, kind genKind) problem {
	p := genProblem(r, ModeSelf, 0, nc, dim, kind)
	labels := 1 + r.IntN(5)
	p.cLabels = make([]int32, nc)
	for i := range p.cLabels {
		p.cLabels[i] = int32(r.IntN(labels))
	}
	p.qLabels = p.cLabels
	return p
}

// inCorpusPositives returns query i's positives that are corpus rows.
func (p problem) inCorpusPositives(i int) []int64 {
	var out []int64
	for _, r := range p.positives[i] {
		if r < int64(p.c.Rows) {
			out = append(out, r)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// maxPositives counts positive ids per query as sentence-transformers does
// (distinct ids, found in the corpus or not).
func (p problem) maxPositives() int {
	m := 0
	for _, ps := range p.positives {
		s := slices.Clone(ps)
		slices.Sort(s)
		m = max(m, len(slices.Compact(s)))
	}
	return m
}

// cuts splits n rows into random contiguous shards (some possibly empty).
func cuts(r *rand.Rand, n int) [][2]int {
	var out [][2]int
	lo := 0
	for lo < n || len(out) == 0 {
		size := r.IntN(n/2 + 2)
		hi := min(n, lo+size)
		out = append(out, [2]int{lo, hi})
		lo = hi
	}
	return out
}

// mine runs the tile pipeline over the given corpus shards and query blocks
// and returns each query's merged partial.
func (p problem) mine(t *testing.T, plan Selection, shards, blocks [][2]int, workers int) []Partial {
	t.Helper()
	return p.mineFloors(t, plan, shards, blocks, workers, nil)
}

// mineFloors is mine, and when r is set it searches each block's shards in an
// order drawn from r, each tile with the floors (Tile.Floor) that the block's
// tiles before it raised, in exact or quantized precision (drawn too).
func (p problem) mineFloors(t *testing.T, plan Selection, shards, blocks [][2]int, workers int, r *rand.Rand) []Partial {
	t.Helper()
	merged := make([]Partial, p.q.Rows)
	for _, b := range blocks {
		var perShard [][]Partial
		var floor []float32
		if r != nil {
			shards = slices.Clone(shards)
			r.Shuffle(len(shards), func(i, j int) { shards[i], shards[j] = shards[j], shards[i] })
			floor = NoFloors(b[1] - b[0])
		}
		for _, s := range shards {
			tile := Tile{
				Queries:    p.q.Slice(b[0], b[1]),
				Corpus:     p.c.Slice(s[0], s[1]),
				Base:       int64(s[0]),
				K:          plan.PoolSize(),
				EasySeeds:  p.seeds[b[0]:b[1]],
				EasyDraws:  plan.EasyDraws(),
				CorpusRows: int64(p.c.Rows),
				Workers:    workers,
			}
			if p.positives != nil {
				tile.Positives = p.positives[b[0]:b[1]]
			}
			if p.qLabels != nil {
				tile.QueryLabels = p.qLabels[b[0]:b[1]]
				tile.CorpusLabels = p.cLabels[s[0]:s[1]]
			}
			if p.queryRows != nil {
				tile.QueryRows = p.queryRows[b[0]:b[1]]
			}
			if r != nil {
				tile.Floor = slices.Clone(floor)
				tile.Precision = []Precision{Exact, Quantized}[r.IntN(2)]
			}
			parts, err := SearchTile(tile)
			if err != nil {
				t.Fatal(err)
			}
			if r != nil {
				RaiseFloors(floor, tile.K, parts)
			}
			perShard = append(perShard, parts)
		}
		for i := b[0]; i < b[1]; i++ {
			var ps []Partial
			for _, parts := range perShard {
				ps = append(ps, parts[i-b[0]])
			}
			// Odd queries fold the shards in one at a time, from nothing, as
			// MergeBlock does; even ones merge them all at once.
			if i%2 == 1 {
				for _, p := range ps {
					merged[i] = Merge(plan.PoolSize(), merged[i], p)
				}
				continue
			}
			merged[i] = Merge(plan.PoolSize(), ps...)
		}
	}
	return merged
}

// pick turns merged partials into rows, in query order.
func (p problem) pick(plan Selection, merged []Partial) []Row {
	pk := plan.NewPicker()
	rows := make([]Row, len(merged))
	for i, m := range merged {
		rows[i] = pk.Pick(plan.Window(m, p.seeds[i]))
	}
	return rows
}

// refSelectTop is sentence-transformers' selection for top sampling, written
// the way it is written there: a score matrix with removed entries set to
// -inf. It returns each query's hard negatives (row, score).
func (p problem) refSelectTop(plan Selection) [][]Candidate {
	scores := refScores(p.q, p.c)
	out := make([][]Candidate, p.q.Rows)
	for i := range out {
		admit := func(row int64) bool {
			if p.queryRows != nil && row == p.queryRows[i] {
				return false
			}
			if p.qLabels != nil && p.cLabels[row] == p.qLabels[i] {
				return false
			}
			return true
		}
		pool := refTop(scores[i], 0, plan.PoolSize(), admit)
		// Anchor.
		var anchor float32
		has := false
		switch plan.Mode {
		case ModePairs:
			for _, r := range p.inCorpusPositives(i) {
				if s := scores[i][r]; !has || s < anchor {
					anchor, has = s, true
				}
			}
		case ModeLabeled:
			for j, l := range p.cLabels {
				if l == p.qLabels[i] && (p.queryRows == nil || int64(j) != p.queryRows[i]) {
					if s := scores[i][j]; !has || s < anchor {
						anchor, has = s, true
					}
				}
			}
		}
		removed := make([]bool, len(pool))
		for k, c := range pool {
			if plan.Mode == ModePairs && !plan.IncludePositives && slices.Contains(p.inCorpusPositives(i), c.Row) {
				removed[k] = true
			}
		}
		apply := func(rule func(s float32) bool) {
			for k, c := range pool {
				if !removed[k] && rule(c.Score) {
					removed[k] = true
				}
			}
		}
		if has && plan.AbsoluteMargin != nil {
			m := float32(*plan.AbsoluteMargin)
			apply(func(s float32) bool { return s+m > anchor })
		}
		if has && plan.RelativeMargin != nil {
			abs := anchor
			if abs < 0 {
				abs = -abs
			}
			th := anchor - float32(abs*float32(*plan.RelativeMargin))
			apply(func(s float32) bool { return s > th })
		}
		if plan.MaxScore != nil {
			apply(func(s float32) bool { return s > float32(*plan.MaxScore) })
		}
		if plan.MinScore != nil {
			apply(func(s float32) bool { return s < float32(*plan.MinScore) })
		}
		var surv []Candidate
		for k, c := range pool {
			if !removed[k] {
				surv = append(surv, c)
			}
		}
		surv = surv[:min(len(surv), plan.RangeMax)]
		surv = surv[min(len(surv), plan.RangeMin):]
		out[i] = surv[:min(len(surv), plan.NumNegatives)]
	}
	return out
}
