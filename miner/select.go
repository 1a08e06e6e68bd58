package miner

import (
	"math"
	"slices"
)

// Kind tells hard negatives from easy ones.
type Kind uint8

// The kinds of negatives.
const (
	KindHard Kind = iota
	KindEasy
)

// String returns "hard" or "easy", the values of the negative_kinds column.
func (k Kind) String() string {
	if k == KindEasy {
		return "easy"
	}
	return "hard"
}

// Negative is one chosen (or choosable) negative of a query.
type Negative struct {
	Row   int64
	Score float32
	Kind  Kind
	// Rank is the 0-based place of a hard negative in the query's candidate
	// pool (its rank among the corpus by score, positives included in pairs
	// mode), or -1 for an easy negative.
	Rank int32
}

// Removed counts what happened to a query's pool candidates (or, summed in
// Stats, to all of them), in the order the rules apply.
type Removed struct {
	Pool           int64 // candidates in the pool
	Positive       int64 // pool candidates that were positives
	AbsoluteMargin int64
	RelativeMargin int64
	MaxScore       int64
	MinScore       int64
	RangeMax       int64 // survivors past the first range_max
	RangeMin       int64 // survivors dropped as the first range_min
}

func (r *Removed) add(o Removed) {
	r.Pool += o.Pool
	r.Positive += o.Positive
	r.AbsoluteMargin += o.AbsoluteMargin
	r.RelativeMargin += o.RelativeMargin
	r.MaxScore += o.MaxScore
	r.MinScore += o.MinScore
	r.RangeMax += o.RangeMax
	r.RangeMin += o.RangeMin
}

// Window is one query's candidates after the filters and the rank window,
// ready for picking: small (about RangeMax entries), so a job can hold the
// windows of all its queries when it rebalances.
type Window struct {
	// Hard holds the surviving candidates in preference order: by score for
	// top sampling, in a seeded random order for random sampling. A query
	// takes the first NumNegatives that the frequency cap allows.
	Hard []Negative
	// Easy holds eligible easy negatives in draw order (not in the pool, not
	// positives, not the query, not of its label), at most Selection.EasyNeed.
	Easy []Negative
	// Positives are the query's scored positives (pairs mode).
	Positives []Candidate
	// Anchor is the margin anchor (lowest positive, or lowest same-label
	// score in labeled mode); HasAnchor is false when there is none.
	Anchor    float32
	HasAnchor bool
	Removed   Removed
}

// Window applies the rules of the plan to one query's merged result over
// the whole corpus. querySeed (QuerySeed) orders random sampling.
//
// Pairs mode follows sentence-transformers: the pool is the best PoolSize
// candidates; positives are removed; then absolute_margin (removed when
// score + m > anchor), relative_margin (removed when score > anchor −
// |anchor|·m), max_score (score > max) and min_score (score < min), each
// counted over the candidates still standing; the first RangeMax survivors
// are kept and the first RangeMin of those dropped. The pool is never
// widened, so a query can run short. Labeled and self mode are the same with
// a pool that already excludes the query's label or the query itself. A query
// without an anchor (no positive found in the corpus, or no other item of its
// label) has no margin filter: there is nothing to measure against.
func (p Selection) Window(part Partial, querySeed uint64) Window {
	var w Window
	pool := part.Top
	if len(pool) > p.PoolSize() {
		pool = pool[:p.PoolSize()]
	}
	w.Removed.Pool = int64(len(pool))
	w.Positives = part.Positives
	switch p.Mode {
	case ModePairs:
		for i, c := range part.Positives {
			if i == 0 || c.Score < w.Anchor {
				w.Anchor = c.Score
			}
		}
		w.HasAnchor = len(part.Positives) > 0
	case ModeLabeled:
		w.Anchor, w.HasAnchor = part.SameLabel.Min, part.SameLabel.Count > 0
	}
	isPositive := func(row int64) bool {
		_, found := slices.BinarySearchFunc(part.Positives, row, func(c Candidate, r int64) int {
			return cmpInt64(c.Row, r)
		})
		return found
	}
	f := p.filters(w.Anchor, w.HasAnchor)
	survivors := make([]Negative, 0, min(len(pool), p.RangeMax))
	for rank, c := range pool {
		if !p.IncludePositives && isPositive(c.Row) {
			w.Removed.Positive++
			continue
		}
		if !f.keep(c.Score, &w.Removed) {
			continue
		}
		if len(survivors) == p.RangeMax {
			w.Removed.RangeMax++
			continue
		}
		survivors = append(survivors, Negative{Row: c.Row, Score: c.Score, Kind: KindHard, Rank: int32(rank)})
	}
	drop := min(p.RangeMin, len(survivors))
	w.Removed.RangeMin = int64(drop)
	w.Hard = survivors[drop:]
	if p.Sampling == SamplingRandom {
		perm := permutation(querySeed, len(w.Hard))
		shuffled := make([]Negative, len(w.Hard))
		for i, j := range perm {
			shuffled[i] = w.Hard[j]
		}
		w.Hard = shuffled
	}
	w.Easy = p.eligibleEasy(part, pool, isPositive)
	return w
}

// eligibleEasy returns the first EasyNeed drawn rows that are neither in the
// pool nor positives, in draw order.
func (p Selection) eligibleEasy(part Partial, pool []Candidate, isPositive func(int64) bool) []Negative {
	need := p.EasyNeed()
	if need == 0 {
		return nil
	}
	inPool := make(map[int64]struct{}, len(pool))
	for _, c := range pool {
		inPool[c.Row] = struct{}{}
	}
	var out []Negative
	for _, d := range part.Easy {
		if len(out) == need {
			break
		}
		if _, ok := inPool[d.Row]; ok || isPositive(d.Row) {
			continue
		}
		out = append(out, Negative{Row: d.Row, Score: d.Score, Kind: KindEasy, Rank: -1})
	}
	return out
}

// filters holds the score bounds of one query, in float32 as
// sentence-transformers computes them.
type filters struct {
	abs, rel, max, min       bool
	absM, relThresh, hi, low float32
	anchor                   float32
}

func (p Selection) filters(anchor float32, hasAnchor bool) filters {
	var f filters
	f.anchor = anchor
	if hasAnchor && p.AbsoluteMargin != nil {
		f.abs, f.absM = true, float32(*p.AbsoluteMargin)
	}
	if hasAnchor && p.RelativeMargin != nil {
		// The explicit conversion keeps the product rounded before the
		// subtraction (no fused multiply-add), as torch computes it.
		f.rel = true
		f.relThresh = anchor - float32(float32(math.Abs(float64(anchor)))*float32(*p.RelativeMargin))
	}
	if p.MaxScore != nil {
		f.max, f.hi = true, float32(*p.MaxScore)
	}
	if p.MinScore != nil {
		f.min, f.low = true, float32(*p.MinScore)
	}
	return f
}

// keep applies the filters in order to one score, counting the first rule
// that removes it.
func (f *filters) keep(s float32, r *Removed) bool {
	switch {
	case f.abs && s+f.absM > f.anchor:
		r.AbsoluteMargin++
	case f.rel && s > f.relThresh:
		r.RelativeMargin++
	case f.max && s > f.hi:
		r.MaxScore++
	case f.min && s < f.low:
		r.MinScore++
	default:
		return true
	}
	return false
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Row is one query's final choice.
type Row struct {
	// Negatives are the hard negatives by score (Better), then the easy ones
	// by score.
	Negatives []Negative
	Positives []Candidate
	Anchor    float32
	HasAnchor bool
	// Hard and EasyCount count the two kinds in Negatives.
	Hard, EasyCount int
	// Capped counts the candidates this query skipped because they had
	// reached max_negative_frequency.
	Capped  int
	Removed Removed
}

// Picker takes each query's negatives from its window. Without
// max_negative_frequency it keeps no state and queries may be picked in any
// order. With it, it counts how often each corpus row has been taken as a
// hard negative, and the rule is: queries are picked one at a time in global
// query order (query shard key order, then row order); each takes, in its
// preference order, the first NumNegatives candidates that are still under
// the cap, and a row it takes counts against the cap. The result therefore
// depends only on the queries and their order, never on how they were cut
// into blocks or which worker ran what; the caller must feed queries in
// that order (streaming is enough: nothing but the counts is kept).
type Picker struct {
	plan   Selection
	counts map[int64]int
}

// NewPicker returns a picker for the plan.
func (p Selection) NewPicker() *Picker {
	pk := &Picker{plan: p}
	if p.MaxNegativeFrequency > 0 {
		pk.counts = make(map[int64]int)
	}
	return pk
}

// Pick chooses one query's negatives: NumNegatives hard ones from the window
// (fewer if it runs short), EasyNegatives easy ones, and with FillWithEasy as
// many more easy ones as hard ones are missing. No row appears twice and no
// positive is chosen.
func (pk *Picker) Pick(w Window) Row {
	p := pk.plan
	row := Row{Positives: w.Positives, Anchor: w.Anchor, HasAnchor: w.HasAnchor, Removed: w.Removed}
	hard := make([]Negative, 0, p.NumNegatives)
	for _, c := range w.Hard {
		if len(hard) == p.NumNegatives {
			break
		}
		if pk.counts != nil {
			if pk.counts[c.Row] >= p.MaxNegativeFrequency {
				row.Capped++
				continue
			}
			pk.counts[c.Row]++
		}
		hard = append(hard, c)
	}
	nEasy := p.EasyNegatives
	if p.FillWithEasy {
		nEasy += p.NumNegatives - len(hard)
	}
	easy := slices.Clone(w.Easy[:min(nEasy, len(w.Easy))])
	byScore := func(a, b Negative) int {
		switch {
		case Better(Candidate{a.Row, a.Score}, Candidate{b.Row, b.Score}):
			return -1
		case Better(Candidate{b.Row, b.Score}, Candidate{a.Row, a.Score}):
			return 1
		}
		return 0
	}
	slices.SortFunc(hard, byScore)
	slices.SortFunc(easy, byScore)
	row.Negatives = append(hard, easy...)
	row.Hard, row.EasyCount = len(hard), len(easy)
	return row
}
