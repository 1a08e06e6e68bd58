package miner

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// FuzzSelect builds a random problem and parameters from the fuzz input,
// runs the sharded pipeline and checks the invariants of selection: no
// positive, self or same-label item chosen, no duplicates in a row, scores
// in order, hard negatives from the reference window (exactly the reference
// for top sampling), counts right, the frequency cap held. `go test` runs the
// seed corpus below; `go test -fuzz FuzzSelect` explores further.
func FuzzSelect(f *testing.F) {
	f.Add(uint64(1), uint64(0))
	f.Add(uint64(2), uint64(0xffff_ffff))
	f.Add(uint64(3), uint64(0x1234_5678_9abc))
	f.Add(uint64(4), uint64(42))
	f.Add(uint64(5), uint64(7))
	f.Add(uint64(6), uint64(1<<40))
	f.Add(uint64(7), uint64(1<<8|1)) // labeled self
	f.Fuzz(func(t *testing.T, seed, knobs uint64) {
		r := rand.New(rand.NewPCG(seed, knobs))
		mode := []Mode{ModePairs, ModeLabeled, ModeSelf}[knobs%3]
		p := genProblem(r, mode, r.IntN(20), r.IntN(80), 1+r.IntN(6), genKind(knobs/3%4))
		if mode == ModeLabeled && knobs&(1<<8) != 0 {
			p = labeledSelf(r, r.IntN(80), 1+r.IntN(6), genKind(knobs/3%4))
		}
		params := randomParams(r, mode, sampleScores(p))
		params.Sampling = []Sampling{SamplingTop, SamplingRandom}[r.IntN(2)]
		params.EasyNegatives = r.IntN(4)
		params.FillWithEasy = r.IntN(2) == 0
		if r.IntN(3) == 0 {
			params.MaxNegativeFrequency = 1 + r.IntN(3)
		}
		plan, err := params.Resolve(p.maxPositives())
		if err != nil {
			t.Fatal(err)
		}
		merged := p.mine(t, plan, cuts(r, p.c.Rows), cuts(r, p.q.Rows), 1+r.IntN(3))
		rows := p.pick(plan, merged)

		full := plan
		full.NumNegatives = plan.RangeMax
		window := p.refSelectTop(full)
		top := p.refSelectTop(plan)
		counts := map[int64]int{}
		for i, row := range rows {
			checkRow(t, p, plan, i, merged[i], row)
			hard := row.Negatives[:row.Hard]
			for _, n := range hard {
				if !slices.Contains(window[i], Candidate{n.Row, n.Score}) {
					t.Fatalf("query %d: hard negative %v not in the window %v", i, n, window[i])
				}
				counts[n.Row]++
				if plan.MaxNegativeFrequency > 0 && counts[n.Row] > plan.MaxNegativeFrequency {
					t.Fatalf("row %d chosen %d times, cap %d", n.Row, counts[n.Row], plan.MaxNegativeFrequency)
				}
			}
			if plan.MaxNegativeFrequency == 0 {
				if want := min(plan.NumNegatives, len(window[i])); len(hard) != want {
					t.Fatalf("query %d: %d hard negatives, want %d", i, len(hard), want)
				}
				if plan.Sampling == SamplingTop {
					var got []Candidate
					for _, n := range hard {
						got = append(got, Candidate{n.Row, n.Score})
					}
					if !slices.Equal(got, top[i]) && len(got)+len(top[i]) > 0 {
						t.Fatalf("query %d: top %v, reference %v", i, got, top[i])
					}
				}
			}
			if !plan.FillWithEasy && row.EasyCount > plan.EasyNegatives {
				t.Fatalf("query %d: %d easy negatives without fill, want at most %d", i, row.EasyCount, plan.EasyNegatives)
			}
			if plan.FillWithEasy && row.EasyCount > plan.EasyNegatives+plan.NumNegatives-row.Hard {
				t.Fatalf("query %d: %d easy negatives for %d missing hard", i, row.EasyCount, plan.NumNegatives-row.Hard)
			}
		}
	})
}
