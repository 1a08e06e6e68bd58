package miner

import (
	"cmp"
	"container/heap"
	"math"
	"slices"
)

// MergeTop merges lists that are each sorted by Better into the best k of
// their union, sorted by Better. Because every list holds the best of its
// shard, merging the lists of disjoint shards that cover the corpus equals one
// search over the whole corpus. A row present in several lists is kept once.
func MergeTop(k int, lists ...[]Candidate) []Candidate {
	h := make(mergeHeap, 0, len(lists))
	for _, l := range lists {
		if len(l) > 0 {
			h = append(h, l)
		}
	}
	heap.Init(&h)
	out := make([]Candidate, 0, k)
	for len(out) < k && len(h) > 0 {
		c := h[0][0]
		if n := len(out); n == 0 || out[n-1].Row != c.Row {
			out = append(out, c)
		}
		h[0] = h[0][1:]
		if len(h[0]) == 0 {
			heap.Pop(&h)
		} else {
			heap.Fix(&h, 0)
		}
	}
	return out
}

// mergeHeap orders the remaining tails of the lists by their heads.
type mergeHeap [][]Candidate

func (h mergeHeap) Len() int           { return len(h) }
func (h mergeHeap) Less(i, j int) bool { return Better(h[i][0], h[j][0]) }
func (h mergeHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *mergeHeap) Push(x any)        { *h = append(*h, x.([]Candidate)) }
func (h *mergeHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// Merge combines one query's partial results from tiles of disjoint corpus
// shards into its result over their union: the best k candidates, all scored
// positives (by row), the same-label summary, and the easy draws in draw
// order. The order of the partials does not matter.
func Merge(k int, partials ...Partial) Partial {
	if len(partials) == 2 {
		return mergeTwo(k, partials[0], partials[1])
	}
	var out Partial
	tops := make([][]Candidate, len(partials))
	for i, p := range partials {
		tops[i] = p.Top
		out.Positives = append(out.Positives, p.Positives...)
		out.Easy = append(out.Easy, p.Easy...)
		out.SameLabel = out.SameLabel.plus(p.SameLabel)
	}
	out.Top = MergeTop(k, tops...)
	slices.SortFunc(out.Positives, func(a, b Candidate) int { return cmp.Compare(a.Row, b.Row) })
	out.Positives = slices.CompactFunc(out.Positives, func(a, b Candidate) bool { return a.Row == b.Row })
	slices.SortFunc(out.Easy, func(a, b Drawn) int { return cmp.Compare(a.Draw, b.Draw) })
	out.Easy = slices.CompactFunc(out.Easy, func(a, b Drawn) bool { return a.Draw == b.Draw })
	return out
}

// plus is the summary of the items of s and o together.
func (s SameLabel) plus(o SameLabel) SameLabel {
	if o.Count == 0 {
		return s
	}
	if s.Count == 0 || o.Min < s.Min {
		s.Min = o.Min
	}
	s.Count += o.Count
	return s
}

// mergeTwo is Merge of two partials, the way a merge folds shards in one at a
// time: each of their lists is already in order, so one pass merges it,
// where the general path sorts (it was most of a block merge's time).
func mergeTwo(k int, a, b Partial) Partial {
	out := Partial{SameLabel: a.SameLabel.plus(b.SameLabel)}
	sameRow := func(x, y Candidate) bool { return x.Row == y.Row }
	out.Top = mergeSorted(a.Top, b.Top, k, Better, sameRow)
	out.Positives = mergeSorted(a.Positives, b.Positives, -1, func(x, y Candidate) bool { return x.Row < y.Row }, sameRow)
	out.Easy = mergeSorted(a.Easy, b.Easy, -1, func(x, y Drawn) bool { return x.Draw < y.Draw },
		func(x, y Drawn) bool { return x.Draw == y.Draw })
	return out
}

// mergeSorted merges two lists ordered by less into one, at most limit long
// (no limit when negative); of neighbours that are the same, the first stays.
func mergeSorted[T any](a, b []T, limit int, less, same func(x, y T) bool) []T {
	n := len(a) + len(b)
	if limit >= 0 {
		n = min(n, limit)
	}
	if n == 0 {
		return nil
	}
	out := make([]T, 0, n)
	for len(out) < n && (len(a) > 0 || len(b) > 0) {
		var next T
		if len(b) == 0 || len(a) > 0 && !less(b[0], a[0]) {
			next, a = a[0], a[1:]
		} else {
			next, b = b[0], b[1:]
		}
		if m := len(out); m == 0 || !same(out[m-1], next) {
			out = append(out, next)
		}
	}
	return out
}

// RaiseFloors raises each query's floor (Tile.Floor) with its partial from one
// more tile: where the partial holds k candidates, the k-th best score of the
// whole corpus is at least the partial's k-th. A NaN floor is unset; partials[i]
// belongs to floor[i].
func RaiseFloors(floor []float32, k int, partials []Partial) {
	if k == 0 {
		return
	}
	for i, p := range partials {
		if len(p.Top) < k {
			continue
		}
		if kth := p.Top[k-1].Score; math.IsNaN(float64(floor[i])) || kth > floor[i] {
			floor[i] = kth
		}
	}
}

// NoFloors returns n unset floors, for RaiseFloors to raise.
func NoFloors(n int) []float32 {
	f := make([]float32, n)
	for i := range f {
		f[i] = float32(math.NaN())
	}
	return f
}
