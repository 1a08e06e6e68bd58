package miner

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestSummary(t *testing.T) {
	// torch: median of an even count is the lower middle; quantiles
	// interpolate linearly; std uses n-1.
	var s Scores
	s.Add(4, 1, 3, 2)
	got := s.Summary()
	want := Summary{Count: 4, Mean: 2.5, Median: 2, Std: math.Sqrt(5.0 / 3), Min: 1, Q25: 1.75, Q50: 2.5, Q75: 3.25, Max: 4}
	if math.Abs(got.Std-want.Std) > 1e-12 {
		t.Fatalf("std %v, want %v", got.Std, want.Std)
	}
	got.Std = want.Std
	if got != want {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	var one Scores
	one.Add(0.5)
	if g := one.Summary(); g.Std != 0 || g.Median != 0.5 || g.Q75 != 0.5 {
		t.Fatalf("one value: %+v", g)
	}
	var none Scores
	if g := none.Summary(); g != (Summary{}) {
		t.Fatalf("no values: %+v", g)
	}
}

// TestStatsMerge checks that statistics built per block and merged equal
// those built over all rows at once.
func TestStatsMerge(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	p := genProblem(r, ModePairs, 60, 200, 5, genRandom)
	plan, err := Params{Mode: ModePairs, NumNegatives: 3, EasyNegatives: 1, RelativeMargin: f64(0.05)}.Resolve(p.maxPositives())
	if err != nil {
		t.Fatal(err)
	}
	rows := p.pick(plan, p.mine(t, plan, [][2]int{{0, 200}}, [][2]int{{0, 60}}, 0))
	want := plan.NumNegatives + plan.EasyNegatives
	var all, a, b Stats
	for i, row := range rows {
		all.Add(row, plan.NumNegatives, want)
		if i < 25 {
			a.Add(row, plan.NumNegatives, want)
		} else {
			b.Add(row, plan.NumNegatives, want)
		}
	}
	var merged Stats
	merged.Merge(&b)
	merged.Merge(&a)
	if merged.Queries != 60 || merged.Removed != all.Removed || merged.ShortHard != all.ShortHard || merged.NoAnchor != all.NoAnchor {
		t.Fatalf("counts differ: %+v vs %+v", merged, all)
	}
	for name, pair := range map[string][2]*Scores{
		"positive": {&merged.Positive, &all.Positive}, "negative": {&merged.Negative, &all.Negative},
		"easy": {&merged.Easy, &all.Easy}, "difference": {&merged.Difference, &all.Difference},
	} {
		if g, w := pair[0].Summary(), pair[1].Summary(); math.Abs(g.Mean-w.Mean) > 1e-9 || g.Median != w.Median || g.Q25 != w.Q25 || g.Count != w.Count {
			t.Fatalf("%s: %+v vs %+v", name, g, w)
		}
	}
	if !slices.Equal(merged.MostFrequent(5), all.MostFrequent(5)) {
		t.Fatalf("most frequent %v vs %v", merged.MostFrequent(5), all.MostFrequent(5))
	}
	if all.Removed.RelativeMargin == 0 {
		t.Fatal("the relative margin removed nothing; the test data is too easy")
	}
	// Every count is a row of the output.
	var hard int64
	for _, row := range rows {
		hard += int64(row.Hard)
	}
	var sum int64
	for _, c := range all.Counts {
		sum += c
	}
	if sum != hard || int64(all.Negative.Len()) != hard {
		t.Fatalf("counts sum %d, negative scores %d, hard negatives %d", sum, all.Negative.Len(), hard)
	}
}

func TestMostFrequent(t *testing.T) {
	s := Stats{Counts: map[int64]int64{5: 2, 3: 2, 9: 7, 1: 1}}
	want := []Frequency{{9, 7}, {3, 2}, {5, 2}}
	if got := s.MostFrequent(3); !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestGroup(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -4500: "-4,500"} {
		if got := group(n); got != want {
			t.Errorf("group(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestTable(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	p := genProblem(r, ModePairs, 40, 100, 4, genNearPos)
	plan, err := Params{Mode: ModePairs, NumNegatives: 3, RelativeMargin: f64(0.05), MaxScore: f64(1.5)}.Resolve(p.maxPositives())
	if err != nil {
		t.Fatal(err)
	}
	var st Stats
	for _, row := range p.pick(plan, p.mine(t, plan, [][2]int{{0, 100}}, [][2]int{{0, 40}}, 0)) {
		st.Add(row, plan.NumNegatives, plan.NumNegatives)
	}
	out := st.Table(plan)
	t.Log("\n" + out)
	for _, want := range []string{"Metric", "Count", "Median", "75%", "due to the relative_margin of 0.05"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q", want)
		}
	}
}
