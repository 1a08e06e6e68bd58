package miner

import "fmt"

// Mode says where a query's positives come from.
type Mode string

// The modes.
const (
	// ModePairs: positives are given as corpus rows (sentence-transformers'
	// mine_hard_negatives).
	ModePairs Mode = "pairs"
	// ModeLabeled: the positives of a query are the corpus items with its label.
	ModeLabeled Mode = "labeled"
	// ModeSelf: the queries are the corpus rows; no positives.
	ModeSelf Mode = "self"
)

// Sampling says how hard negatives are taken from a query's window.
type Sampling string

// The sampling strategies.
const (
	SamplingTop    Sampling = "top"    // the best-scoring survivors
	SamplingRandom Sampling = "random" // a seeded uniform sample of the survivors
)

// Params are the selection parameters of the job spec. Field meanings and
// names follow sentence-transformers' mine_hard_negatives; the JSON names of
// the spec fields are given in ParamError.Field.
type Params struct {
	Mode         Mode
	NumNegatives int
	RangeMin     int
	RangeMax     int // 0: derived by Resolve

	// Optional bounds; nil means unset. They are applied in float32, as
	// sentence-transformers applies them to its float32 score tensors.
	MaxScore, MinScore             *float64
	AbsoluteMargin, RelativeMargin *float64

	Sampling             Sampling // "" means top
	EasyNegatives        int
	FillWithEasy         bool
	MaxNegativeFrequency int // 0: off
	// IncludePositives keeps a query's positives among its candidates, as
	// sentence-transformers' include_positives does (pairs mode).
	IncludePositives bool
}

// ParamError is an invalid parameter; Field is its name in the job spec.
type ParamError struct {
	Field  string
	Reason string
}

func (e *ParamError) Error() string { return e.Field + ": " + e.Reason }

func paramErr(field, format string, args ...any) error {
	return &ParamError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// Selection is a validated Params with range_max derived and the job-wide
// max_positives fixed. Build it with Params.Resolve; its methods do the
// per-query work.
type Selection struct {
	Params
	// MaxPositives is the most positives any query has (pairs mode; 0
	// otherwise). The candidate pool of pairs mode is RangeMax+MaxPositives.
	MaxPositives int
}

// Resolve validates p and derives what it leaves unset. maxPositives is the
// most positives any query of the job has, counted as sentence-transformers
// counts them (positive ids per query, whether or not they are found in the
// corpus); it is ignored outside pairs mode.
//
// An unset RangeMax becomes RangeMin + 10*NumNegatives + maxPositives when a
// margin or MaxScore is set (some candidates will be filtered), otherwise
// RangeMin + NumNegatives + maxPositives.
func (p Params) Resolve(maxPositives int) (Selection, error) {
	switch p.Mode {
	case ModePairs:
	case ModeLabeled, ModeSelf:
		maxPositives = 0
	default:
		return Selection{}, paramErr("mode", "unknown mode %q (want pairs, labeled or self)", p.Mode)
	}
	if p.Sampling == "" {
		p.Sampling = SamplingTop
	}
	if p.Sampling != SamplingTop && p.Sampling != SamplingRandom {
		return Selection{}, paramErr("sampling_strategy", "unknown strategy %q (want top or random)", p.Sampling)
	}
	if maxPositives < 0 {
		return Selection{}, paramErr("positives", "max_positives = %d is negative", maxPositives)
	}
	if p.NumNegatives < 1 {
		return Selection{}, paramErr("num_negatives", "must be at least 1, got %d", p.NumNegatives)
	}
	if p.RangeMin < 0 {
		return Selection{}, paramErr("range_min", "must be non-negative, got %d", p.RangeMin)
	}
	if p.RangeMax < 0 {
		return Selection{}, paramErr("range_max", "must be positive or unset, got %d", p.RangeMax)
	}
	margin := p.AbsoluteMargin != nil || p.RelativeMargin != nil
	if p.Mode == ModeSelf && margin {
		field := "absolute_margin"
		if p.AbsoluteMargin == nil {
			field = "relative_margin"
		}
		return Selection{}, paramErr(field, "a margin is measured against the positives, and self mode has none")
	}
	if p.MaxScore != nil && p.MinScore != nil && *p.MinScore > *p.MaxScore {
		return Selection{}, paramErr("min_score", "%v is above max_score %v: every candidate would be removed", *p.MinScore, *p.MaxScore)
	}
	if p.EasyNegatives < 0 {
		return Selection{}, paramErr("easy_negatives", "must be non-negative, got %d", p.EasyNegatives)
	}
	if p.MaxNegativeFrequency < 0 {
		return Selection{}, paramErr("max_negative_frequency", "must be non-negative (0 is off), got %d", p.MaxNegativeFrequency)
	}
	if p.RangeMax == 0 {
		if margin || p.MaxScore != nil {
			p.RangeMax = p.RangeMin + 10*p.NumNegatives + maxPositives
		} else {
			p.RangeMax = p.RangeMin + p.NumNegatives + maxPositives
		}
	}
	if p.RangeMin >= p.RangeMax {
		return Selection{}, paramErr("range_min", "must be smaller than range_max, got range_min=%d and range_max=%d", p.RangeMin, p.RangeMax)
	}
	if p.NumNegatives > p.RangeMax-p.RangeMin {
		return Selection{}, paramErr("num_negatives", "cannot mine %d negatives per query: only %d candidates remain after skipping the first range_min=%d of range_max=%d",
			p.NumNegatives, p.RangeMax-p.RangeMin, p.RangeMin, p.RangeMax)
	}
	return Selection{Params: p, MaxPositives: maxPositives}, nil
}

// PoolSize is the number of candidates each query needs from the search:
// RangeMax + MaxPositives in pairs mode (room for the positives that are
// removed), RangeMax otherwise (labeled and self mode exclude their
// non-negatives during the search). It is the K of SearchTile and Merge.
func (p Selection) PoolSize() int { return p.RangeMax + p.MaxPositives }

// EasyNeed is the most easy negatives a query can take: EasyNegatives, plus
// NumNegatives when FillWithEasy may top up a query with no hard ones.
func (p Selection) EasyNeed() int {
	n := p.EasyNegatives
	if p.FillWithEasy {
		n += p.NumNegatives
	}
	return n
}

// EasyDraws is the length of each query's easy stream (Tile.EasyDraws).
// Outside labeled mode at most PoolSize + MaxPositives drawn rows can be
// ineligible (the pool and the positives), so drawing that many more than
// needed guarantees a full set whenever the corpus has one. In labeled mode
// rows of the query's own label are ineligible too and there is no such
// bound; the draw is doubled, and a query of a very common label can end up
// with fewer easy negatives (it is counted).
func (p Selection) EasyDraws() int {
	need := p.EasyNeed()
	if need == 0 {
		return 0
	}
	n := need + p.PoolSize() + p.MaxPositives + 1 // +1: the query itself in self mode
	if p.Mode == ModeLabeled {
		n = 2*n + 16
	}
	return n
}
