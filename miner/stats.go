package miner

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Scores collects score values for a Summary. It keeps every value (4 bytes
// each) because the median and quartiles must be exact; collections of
// different blocks merge by appending.
type Scores struct{ values []float32 }

// Add appends values.
func (s *Scores) Add(v ...float32) { s.values = append(s.values, v...) }

// Merge appends the values of o.
func (s *Scores) Merge(o *Scores) { s.values = append(s.values, o.values...) }

// Len is the number of values.
func (s *Scores) Len() int { return len(s.values) }

// Summary is the table sentence-transformers prints for a set of scores.
type Summary struct {
	Count                   int64
	Mean, Median, Std       float64
	Min, Q25, Q50, Q75, Max float64
}

// Summary computes the statistics with torch's definitions: the median is
// the lower middle value, quartiles interpolate linearly between the two
// nearest ranks, the standard deviation is the sample one (n−1; 0 when there
// are fewer than two values). An empty set gives a zero Summary.
func (s *Scores) Summary() Summary {
	n := len(s.values)
	if n == 0 {
		return Summary{}
	}
	v := slices.Clone(s.values)
	slices.Sort(v)
	var sum float64
	for _, x := range v {
		sum += float64(x)
	}
	mean := sum / float64(n)
	var ss float64
	for _, x := range v {
		d := float64(x) - mean
		ss += float64(d * d) // the conversion forbids a fused multiply-add (arm64 would fuse): same std on every CPU
	}
	std := 0.0
	if n > 1 {
		std = math.Sqrt(ss / float64(n-1))
	}
	return Summary{
		Count:  int64(n),
		Mean:   mean,
		Median: float64(v[(n-1)/2]),
		Std:    std,
		Min:    float64(v[0]),
		Q25:    quantile(v, 0.25),
		Q50:    quantile(v, 0.5),
		Q75:    quantile(v, 0.75),
		Max:    float64(v[n-1]),
	}
}

// quantile interpolates linearly in sorted v (torch.quantile's default).
func quantile(v []float32, q float64) float64 {
	pos := q * float64(len(v)-1)
	lo := int(math.Floor(pos))
	hi := min(lo+1, len(v)-1)
	frac := pos - float64(lo)
	return float64(v[lo]) + float64((float64(v[hi])-float64(v[lo]))*frac) // unfused on every CPU, as above
}

// Stats are the statistics of a set of rows. Build one per block with Add,
// combine blocks with Merge (in any order: every figure is a sum, a count or
// a multiset), and report with the Summary methods and MostFrequent.
type Stats struct {
	Queries   int64
	ShortHard int64 // queries with fewer than NumNegatives hard negatives
	ShortRows int64 // queries whose row has fewer negatives than asked (after any fill)
	NoAnchor  int64 // queries without a margin anchor
	Capped    int64 // candidates skipped for max_negative_frequency
	Removed   Removed

	// Positive holds positive scores (the margin anchor in labeled mode);
	// Negative and Easy the chosen hard and easy negatives' scores;
	// Difference positive − hard negative for every pair of the two in a
	// row (as sentence-transformers, which repeats a query per positive).
	Positive, Negative, Easy, Difference Scores

	// Counts is how many queries took each row as a hard negative.
	Counts map[int64]int64
}

// Add adds one query's row. want is the number of negatives a full row has
// (NumNegatives + EasyNegatives), numNegatives the hard ones asked for.
func (s *Stats) Add(r Row, numNegatives, want int) {
	s.Queries++
	if r.Hard < numNegatives {
		s.ShortHard++
	}
	if len(r.Negatives) < want {
		s.ShortRows++
	}
	s.Capped += int64(r.Capped)
	s.Removed.add(r.Removed)
	pos := make([]float32, 0, len(r.Positives))
	for _, c := range r.Positives {
		pos = append(pos, c.Score)
	}
	if len(pos) == 0 && r.HasAnchor {
		pos = append(pos, r.Anchor) // labeled mode
	}
	if !r.HasAnchor {
		s.NoAnchor++
	}
	s.Positive.Add(pos...)
	if s.Counts == nil {
		s.Counts = make(map[int64]int64)
	}
	for _, n := range r.Negatives {
		if n.Kind == KindEasy {
			s.Easy.Add(n.Score)
			continue
		}
		s.Negative.Add(n.Score)
		s.Counts[n.Row]++
		for _, p := range pos {
			s.Difference.Add(p - n.Score)
		}
	}
}

// Merge adds the statistics of o.
func (s *Stats) Merge(o *Stats) {
	s.Queries += o.Queries
	s.ShortHard += o.ShortHard
	s.ShortRows += o.ShortRows
	s.NoAnchor += o.NoAnchor
	s.Capped += o.Capped
	s.Removed.add(o.Removed)
	s.Positive.Merge(&o.Positive)
	s.Negative.Merge(&o.Negative)
	s.Easy.Merge(&o.Easy)
	s.Difference.Merge(&o.Difference)
	if s.Counts == nil {
		s.Counts = make(map[int64]int64, len(o.Counts))
	}
	for r, c := range o.Counts {
		s.Counts[r] += c
	}
}

// Frequency is how many queries took one corpus row as a hard negative.
type Frequency struct {
	Row   int64
	Count int64
}

// MostFrequent returns the n rows most often taken as hard negatives, most
// frequent first, ties to the lower row.
func (s *Stats) MostFrequent(n int) []Frequency {
	all := make([]Frequency, 0, len(s.Counts))
	for r, c := range s.Counts {
		all = append(all, Frequency{r, c})
	}
	slices.SortFunc(all, func(a, b Frequency) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		return cmp.Compare(a.Row, b.Row)
	})
	return all[:min(n, len(all))]
}

// Table renders the statistics the way sentence-transformers prints them
// (a score table, one line per filter that removed candidates, the queries
// that ran short), with a column for easy negatives and the frequency cap.
func (s *Stats) Table(p Selection) string {
	var b strings.Builder
	cols := []*Scores{&s.Positive, &s.Negative, &s.Difference, &s.Easy}
	sums := make([]Summary, len(cols))
	for i, c := range cols {
		sums[i] = c.Summary()
	}
	fmt.Fprintf(&b, "%-6s %14s %14s %14s %14s\n", "Metric", "Positive", "Negative", "Difference", "Easy")
	fmt.Fprintf(&b, "%-6s %14s %14s %14s %14s\n", "Count", group(sums[0].Count), group(sums[1].Count), "", group(sums[3].Count))
	for _, m := range []struct {
		name string
		get  func(Summary) float64
	}{
		{"Mean", func(x Summary) float64 { return x.Mean }},
		{"Median", func(x Summary) float64 { return x.Median }},
		{"Std", func(x Summary) float64 { return x.Std }},
		{"Min", func(x Summary) float64 { return x.Min }},
		{"25%", func(x Summary) float64 { return x.Q25 }},
		{"50%", func(x Summary) float64 { return x.Q50 }},
		{"75%", func(x Summary) float64 { return x.Q75 }},
		{"Max", func(x Summary) float64 { return x.Max }},
	} {
		fmt.Fprintf(&b, "%-6s", m.name)
		for _, x := range sums {
			if x.Count == 0 {
				fmt.Fprintf(&b, " %14s", "-")
				continue
			}
			fmt.Fprintf(&b, " %14.4f", m.get(x))
		}
		b.WriteByte('\n')
	}
	// As sentence-transformers, each ratio is of the candidates still
	// standing when the filter ran (positives included in the first).
	standing := s.Removed.Pool
	for _, f := range []struct {
		name    string
		value   *float64
		removed int64
	}{
		{"absolute_margin", p.AbsoluteMargin, s.Removed.AbsoluteMargin},
		{"relative_margin", p.RelativeMargin, s.Removed.RelativeMargin},
		{"max_score", p.MaxScore, s.Removed.MaxScore},
		{"min_score", p.MinScore, s.Removed.MinScore},
	} {
		if f.removed == 0 || f.value == nil {
			continue
		}
		fmt.Fprintf(&b, "Skipped %s potential negatives (%.2f%%) due to the %s of %v.\n",
			group(f.removed), 100*float64(f.removed)/float64(max(standing, 1)), f.name, *f.value)
		standing -= f.removed
	}
	if s.Capped > 0 {
		fmt.Fprintf(&b, "Skipped %s candidates that had reached the max_negative_frequency of %d.\n", group(s.Capped), p.MaxNegativeFrequency)
	}
	if s.ShortHard > 0 {
		fmt.Fprintf(&b, "Could not find enough hard negatives for %s queries (%.2f%%).", group(s.ShortHard), 100*float64(s.ShortHard)/float64(max(s.Queries, 1)))
		if s.ShortRows < s.ShortHard {
			fmt.Fprintf(&b, " %s of them were filled with easy negatives.", group(s.ShortHard-s.ShortRows))
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// group writes n with thousands separators, as Python's "{:,}".
func group(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var out []byte
	for i := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}
