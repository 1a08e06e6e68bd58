package miner

import (
	"cmp"
	"container/heap"
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
// order. The order of parts does not matter.
func Merge(k int, parts ...Partial) Partial {
	var out Partial
	tops := make([][]Candidate, len(parts))
	for i, p := range parts {
		tops[i] = p.Top
		out.Positives = append(out.Positives, p.Positives...)
		out.Easy = append(out.Easy, p.Easy...)
		if p.SameLabel.Count > 0 {
			if out.SameLabel.Count == 0 || p.SameLabel.Min < out.SameLabel.Min {
				out.SameLabel.Min = p.SameLabel.Min
			}
			out.SameLabel.Count += p.SameLabel.Count
		}
	}
	out.Top = MergeTop(k, tops...)
	slices.SortFunc(out.Positives, func(a, b Candidate) int { return cmp.Compare(a.Row, b.Row) })
	out.Positives = slices.CompactFunc(out.Positives, func(a, b Candidate) bool { return a.Row == b.Row })
	slices.SortFunc(out.Easy, func(a, b Drawn) int { return cmp.Compare(a.Draw, b.Draw) })
	out.Easy = slices.CompactFunc(out.Easy, func(a, b Drawn) bool { return a.Draw == b.Draw })
	return out
}
