package kernel

import (
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// TestQuantEnginesAgree checks that every int8 engine gives the portable
// engine's approximate scores bit for bit on queries and corpus rows
// quantized to its Format (the integer sums are exact, the roundings after
// them fixed),
// for every micro-tile height and for dimensions that are not a multiple of
// 4.
func TestQuantEnginesAgree(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, s := range []struct{ nq, nc, dim int }{{1, 1, 1}, {9, 50, 3}, {17, 97, 384}, {8, 48, 5}, {3, 130, 768}, {6, 60, 27}} {
		q, c := randVecs(r, s.nq, s.dim), randVecs(r, s.nc, s.dim)
		for _, e := range QEngines() {
			want := quantScores(QuantGo, e.Format(), q, c, s.nq, s.nc, s.dim)
			got := quantScores(e, e.Format(), q, c, s.nq, s.nc, s.dim)
			for i := range want {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("%s %+v: score %d is %v, portable %v", e.Name, s, i, got[i], want[i])
				}
			}
		}
	}
}

// TestQueryLaneSums checks that queries quantized to BytesFormat keep the
// sums of each lane set's positive q̃ and of its negative ones' magnitudes
// within its QueryLaneSum (258), where the avx2 kernel's 16-bit sums would
// wrap past it, on rows that reach it (equal values, a large group of 16
// dimensions, a common component), that the cap leaves Gaussian rows most
// of their 127 levels and rows of alternating signs about 64, and that
// every engine of the format scores those queries as the portable kernel
// does.
func TestQueryLaneSums(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	gens := map[string]func(v []float32){
		"normal": func([]float32) {},
		"equal": func(v []float32) {
			for i := range v {
				v[i] = 1
			}
		},
		"equal, negative": func(v []float32) {
			for i := range v {
				v[i] = -1
			}
		},
		"signs": func(v []float32) {
			for i := range v {
				v[i] = float32(1 - 2*(i%2))
			}
		},
		"one group large": func(v []float32) {
			for i := 16; i < min(32, len(v)); i++ {
				v[i] = 40
			}
		},
		"common": func(v []float32) {
			for i := range v {
				v[i] = 1 + 0.5*v[i]
			}
		},
	}
	f := BytesFormat
	for _, dim := range []int{5, 16, 27, 96, 768} {
		for _, name := range slices.Sorted(maps.Keys(gens)) {
			const nq, nc = 9, 50
			q, c := randVecs(r, nq, dim), randVecs(r, nc, dim)
			for i := range nq {
				gens[name](q[i*dim : (i+1)*dim])
			}
			z := QuantizeQueries(q, nq, dim, f)
			levels := make([]int, nq) // what the cap left each row
			for i := range nq {
				for key, sum := range laneSums(z, i) {
					if sum > f.QueryLaneSum {
						t.Fatalf("d=%d %s row %d: lane set %d's values of sign %d sum to %d, over %d", dim, name, i, key[0], key[1], sum, f.QueryLaneSum)
					}
				}
				if z.Scale[i] > 0 {
					levels[i] = int(math.Round(float64(MaxAbs(q[i*dim:(i+1)*dim]) / z.Scale[i])))
				}
			}
			slices.Sort(levels)
			// Gaussian rows: the cap leaves a median of about 99 levels
			// (the fewest about 55); alternating signs 63 (4·63 = 252 per
			// sign and set); equal values 31 (8·31 = 248).
			switch {
			case name == "normal" && dim >= 96 && (levels[nq/2] < 80 || levels[0] < 48):
				t.Errorf("d=%d Gaussian rows: %v levels, want a median of 80 or more and none under 48", dim, levels)
			case name == "signs" && dim >= 16 && (levels[0] < 48 || levels[nq-1] > 64):
				t.Errorf("d=%d alternating signs: %v levels, want 48 to 64", dim, levels)
			case strings.HasPrefix(name, "equal") && dim >= 16 && levels[nq-1] > 32:
				t.Errorf("d=%d %s: %v levels, want at most 32 (8·32 = 256)", dim, name, levels)
			}
			want := quantScores(QuantGoIn(f), f, q, c, nq, nc, dim)
			for _, e := range QEngines() {
				if e.Format() != f {
					continue
				}
				got := quantScores(e, f, q, c, nq, nc, dim)
				for i := range want {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%s d=%d %s: score %d is %v, portable %v", e.Name, dim, name, i, got[i], want[i])
					}
				}
			}
		}
	}
}

// laneSums returns, for query i of z, the sum of each lane set's values of
// each sign in magnitude, keyed by set and sign (1 or −1): a reference
// written apart from maxLaneSum, which the quantizer uses.
func laneSums(z *QuantQueries, i int) map[[2]int]int {
	sums := map[[2]int]int{}
	for k := range z.Dim {
		if set := bytesLaneSet(k, z.Stride); set >= 0 {
			v := int(z.Data[i*z.Stride+k])
			if v < 0 {
				sums[[2]int{set, -1}] -= v
			} else {
				sums[[2]int{set, 1}] += v
			}
		}
	}
	return sums
}

// quantScores returns engine e's approximate scores of the queries q
// against the rows c in format f, nq × nc.
func quantScores(e *QEngine, f QuantFormat, q, c []float32, nq, nc, dim int) []float32 {
	_, _, dst, ldd := blockQuantScores(e, q, c, nq, nc, dim, f, nil, nil)
	out := make([]float32, nq*nc)
	for i := range nq {
		copy(out[i*nc:(i+1)*nc], dst[i*ldd:])
	}
	return out
}

// TestQuantBound checks the bound on random and adversarial rows (a spike,
// mixed magnitudes, zero rows, values near the quantization midpoints):
// every exact score of every engine lies within Bound of the approximate
// score, in every engine's format, and the bound is not vacuous on random
// data.
func TestQuantBound(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	const nq, nc, dim = 20, 120, 96
	gens := map[string]func([]float32){
		"normal": func(v []float32) {},
		"spike": func(v []float32) {
			for i := 0; i < len(v); i += dim {
				v[i+r.IntN(dim)] = 1e3
			}
		},
		"magnitudes": func(v []float32) {
			for i := range v {
				v[i] *= float32(math.Ldexp(1, r.IntN(40)-20))
			}
		},
		"zero rows": func(v []float32) {
			for i := 0; i < len(v); i += 3 * dim {
				clear(v[i : i+dim])
			}
		},
		"midpoints": func(v []float32) {
			for i := range v {
				v[i] = float32(r.IntN(255)-127) + 0.5
			}
		},
		"common": func(v []float32) { // a large common component
			for i := range v {
				v[i] = 1 + 0.5*v[i]
			}
		},
		"equal": func(v []float32) { // avx2's queries get fewer levels (QueryLaneSum)
			for i := range v {
				v[i] = 0.25
			}
		},
	}
	for _, name := range slices.Sorted(maps.Keys(gens)) { // in one order, so that r gives each the same rows
		gen := gens[name]
		q, c := randVecs(r, nq, dim), randVecs(r, nc, dim)
		gen(q)
		gen(c)
		for _, f := range testFormats() {
			label := fmt.Sprintf("%s, %+v", name, f)
			plain, _ := checkBound(t, label, q, c, nq, nc, dim, f, nil)
			// Any center keeps the bound; the mean narrows it where the
			// rows share a component.
			checkBound(t, label+", centered on 0", q, c, nq, nc, dim, f, make([]float32, dim))
			checkBound(t, label+", centered off", q, c, nq, nc, dim, f, randVecs(r, 1, dim))
			centered, _ := checkBound(t, label+", centered", q, c, nq, nc, dim, f, columnMeans(c, nc, dim))
			if name == "common" && 3*centered > 2*plain {
				t.Errorf("%+v: centered on the mean, the bound on rows with a common component is %g, not centered %g: want two thirds or less", f, centered, plain)
			}
		}
	}
}

// TestQuantCenteredBoundTerms checks the terms of the centered bound on
// rows made to reach them: c = μ + t·e_q, whose quantized part ĉ points
// along the query's error e_q, so that e_q·ĉ is ‖e_q‖·‖ĉ‖ (A centered
// corpus); the error must stay within RowBound, and reach at least half of
// it, so that a bound without the term would fail here.
func TestQuantCenteredBoundTerms(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	const nq, dim = 12, 96
	for _, f := range testFormats() {
		q := randVecs(r, nq, dim)
		mu := randVecs(r, 1, dim)
		z := QuantizeQueries(q, nq, dim, f)
		c := make([]float32, nq*dim)
		for i := range nq {
			for k := range dim {
				e := float64(q[i*dim+k]) - float64(z.Scale[i])*float64(z.Data[i*z.Stride+k])
				c[i*dim+k] = mu[k] + float32(200*e)
			}
		}
		if _, tight := checkBound(t, fmt.Sprintf("%+v", f), q, c, nq, nq, dim, f, mu); tight < 0.5 {
			t.Errorf("%+v: the largest error is %.3f of its row's bound, want at least 0.5", f, tight)
		}
	}
}

// blockQuantScores quantizes the queries q and a block of the rows c in
// format f, with the dimensions apart left out and the rows centered on mu
// unless it is nil, and returns them with engine e's approximate scores
// (rows of ldd, wider than the block's, as the search may use; the shift
// not added).
func blockQuantScores(e *QEngine, q, c []float32, nq, nc, dim int, f QuantFormat, apart []int, mu []float32) (*QuantQueries, *QuantBlock, []float32, int) {
	z := QuantizeQueriesApart(q, nq, dim, f, apart)
	b := new(QuantBlock)
	b.KeepRows = ResidualApplies(f)
	b.Reset(nc, dim, f)
	b.Apart = apart
	if mu != nil {
		b.Center = mu
		z.CenterOn(q, mu)
	}
	b.SetNorms(b.PackPanels(c, 0, b.Panels()))
	if b.KeepRows {
		z.AddResidual(q)
	}
	ldd := b.Panels()*QuantPanel + 5
	approx := make([]float32, nq*ldd)
	e.Scores(approx, ldd, z, 0, nq, b, 0, b.Panels())
	return z, b, approx, ldd
}

// columnMeans returns the mean of each column of the n row-major rows x.
func columnMeans(x []float32, n, dim int) []float32 {
	sum := make([]float64, dim)
	for i := range n {
		for k := range dim {
			sum[k] += float64(x[i*dim+k])
		}
	}
	mu := make([]float32, dim)
	for k := range mu {
		mu[k] = float32(sum[k] / float64(n))
	}
	return mu
}

// testFormats are the formats the bound is tested in: every engine's, and
// those of the x86 and arm64 engines wherever the tests run.
func testFormats() []QuantFormat {
	fs := []QuantFormat{DefaultFormat, BytesFormat, SignedFormat}
	for _, e := range QEngines() {
		if !slices.Contains(fs, e.Format()) {
			fs = append(fs, e.Format())
		}
	}
	return fs
}

// checkBound checks Bound and RowBound for queries and rows of format f,
// the rows centered on mu unless it is nil (A centered corpus: the query's
// Shift is then added to its approximate scores), against every exact
// engine's scores, and returns the mean of the block bounds and the largest
// error as a share of its row's bound.
func checkBound(t *testing.T, name string, q, c []float32, nq, nc, dim int, f QuantFormat, mu []float32) (mean, tightest float64) {
	t.Helper()
	z, b, approx, ldd := blockQuantScores(QuantGo, q, c, nq, nc, dim, f, nil, mu)
	for i := range nq {
		mean += z.Bound(i, b) / float64(nq)
	}
	for _, e := range Engines() {
		exact := blockScores(e, q, c, nq, nc, dim)
		worst := 0.0
		for i := range nq {
			bound := z.Bound(i, b)
			shift := 0.0
			if mu != nil {
				shift = z.Shift[i]
			}
			for j := range nc {
				d := math.Abs(float64(exact[i*nc+j]) - (float64(approx[i*ldd+j]) + shift))
				if rb := z.RowBound(i, b, j); d > rb || rb > bound {
					t.Fatalf("%s %s pair (%d,%d): differ by %g, row bound %g, block bound %g", name, e.Name, i, j, d, rb, bound)
				}
				if d > bound {
					t.Fatalf("%s %s pair (%d,%d): exact %v approx %v differ by %g > bound %g", name, e.Name, i, j, exact[i*nc+j], approx[i*ldd+j], d, bound)
				}
				if z.Res != nil {
					checkResidual(t, name+" "+e.Name, z, b, i, j, float64(approx[i*ldd+j])+shift, exact[i*nc+j])
				}
				if bound > 0 {
					worst = max(worst, d/bound)
				}
				if rb := z.RowBound(i, b, j); rb > 0 {
					tightest = max(tightest, d/rb)
				}
			}
		}
		if strings.HasPrefix(name, "normal") && worst < 0.005 {
			t.Errorf("%s: largest error is %.4f of the bound: the bound is too loose to be checked", e.Name, worst)
		}
	}
	return mean, tightest
}

// TestQuantizeRowMatchesGo checks quantizeRow, which runs in assembly where
// the CPU allows, against the Go passes: the same scale and integers bit for
// bit, and the same norms but for the order of their float64 sums. Rows
// hold values on the rounding's halves, both zeros, tiny rows, a row of
// zeros, and lengths around the 8 values of a vector step.
func TestQuantizeRowMatchesGo(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	rows := [][]float32{nil, {0}, {float32(math.Copysign(0, -1)), 0, 1e-38, -1e-38, 0, 0, 0, 0, 3}}
	for _, n := range []int{1, 7, 8, 9, 15, 16, 17, 33, 384, 768, 771} {
		row := randVecs(r, 1, n)
		halves := make([]float32, n) // k + 0.5 after scaling by levels / max
		for i := range halves {
			halves[i] = float32(r.IntN(255)-127) + 0.5*float32(i%2)
		}
		halves[0] = 127
		rows = append(rows, row, halves, make([]float32, n))
	}
	for _, levels := range []int32{QuantLevels, 64, 63} {
		for i, row := range rows {
			got := make([]int32, len(row))
			scale, norm, hat, errNorm := quantizeRow(row, got, levels)
			want := make([]int32, len(row))
			wantScale, inv := rowScale(maxAbsBitsGo(row), levels)
			sum := quantizeGo(row, want, inv, levels, float64(wantScale))
			if math.Float32bits(scale) != math.Float32bits(wantScale) || fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("row %d (%d values), levels %d: scale %v, integers %v; want %v, %v", i, len(row), levels, scale, got, wantScale, want)
			}
			const up = 1 + 1e-9
			for _, c := range []struct{ got, want float64 }{
				{norm, math.Sqrt(sum.x) * up}, {hat, math.Sqrt(float64(sum.n2)) * float64(wantScale) * up}, {errNorm, math.Sqrt(sum.e) * up},
			} {
				if math.Abs(c.got-c.want) > 1e-12*c.want {
					t.Fatalf("row %d (%d values), levels %d: norm %v, want %v", i, len(row), levels, c.got, c.want)
				}
			}
		}
	}
}

// columns returns the columns cols of the n row-major rows of x (dimension
// dim), row-major.
func columns(x []float32, n, dim int, cols []int) []float32 {
	out := make([]float32, 0, n*len(cols))
	for i := range n {
		for _, k := range cols {
			out = append(out, x[i*dim+k])
		}
	}
	return out
}

// TestQuantApartBound checks the bound with dimensions apart (see
// Dimensions apart in quant.go): the int8 score of the other dimensions
// plus the exact engine's score of those apart, added in float32, lies
// within RowBound and Bound of every exact engine's score, on rows whose
// apart dimensions are large, huge, zero or ordinary, for queries of every
// engine's levels; and on the large ones the bound is a fraction of what
// it is without them apart, which is what they are for.
func TestQuantApartBound(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	const nq, nc, dim = 20, 150, 64
	apart := []int{2, 31, 60}
	gens := map[string]func([]float32){
		"outliers": func(v []float32) {
			for i := 0; i < len(v); i += dim {
				for _, k := range apart {
					v[i+k] *= 30
				}
			}
		},
		"huge": func(v []float32) {
			for i := 0; i < len(v); i += dim {
				for _, k := range apart {
					v[i+k] = 1e6 * float32(1-2*r.IntN(2))
				}
			}
		},
		"zero": func(v []float32) {
			for i := 0; i < len(v); i += dim {
				for _, k := range apart {
					v[i+k] = 0
				}
			}
		},
		"ordinary": func(v []float32) {},
	}
	for _, name := range slices.Sorted(maps.Keys(gens)) { // in one order, so that r gives each the same rows
		gen := gens[name]
		q, c := randVecs(r, nq, dim), randVecs(r, nc, dim)
		gen(q)
		gen(c)
		for _, f := range testFormats() {
			for _, centered := range []bool{false, true} {
				checkApartBound(t, fmt.Sprintf("%s, %+v, centered %v", name, f, centered), q, c, nq, nc, dim, f, apart, centered)
			}
		}
	}
}

// checkApartBound is TestQuantApartBound's check of one data set in one
// format, the rows centered on their mean (zero at apart) or not; on the
// outliers it also checks that setting them apart pays.
func checkApartBound(t *testing.T, name string, q, c []float32, nq, nc, dim int, f QuantFormat, apart []int, centered bool) {
	t.Helper()
	var mu []float32
	if centered {
		mu = columnMeans(c, nc, dim)
		for _, k := range apart {
			mu[k] = 0
		}
	}
	z, b, part, ldd := blockQuantScores(QuantGo, q, c, nq, nc, dim, f, apart, mu)
	for _, e := range Engines() {
		side := blockScores(e, columns(q, nq, dim, apart), columns(c, nc, dim, apart), nq, nc, len(apart))
		exact := blockScores(e, q, c, nq, nc, dim)
		for i := range nq {
			bound := z.Bound(i, b)
			shift := 0.0
			if centered {
				shift = z.Shift[i]
			}
			for j := range nc {
				a := part[i*ldd+j] + side[i*nc+j]
				d := math.Abs(float64(exact[i*nc+j]) - (float64(a) + shift))
				if rb := z.RowBound(i, b, j); d > rb || rb > bound {
					t.Fatalf("%s, %s, pair (%d,%d): differ by %g, row bound %g, block bound %g", name, e.Name, i, j, d, rb, bound)
				}
				if z.Res != nil {
					checkResidual(t, name+", "+e.Name, z, b, i, j, float64(a)+shift, exact[i*nc+j])
				}
			}
		}
	}
	if strings.HasPrefix(name, "outliers,") {
		whole := QuantizeQueries(q, nq, dim, f)
		var plain QuantBlock
		plain.Reset(nc, dim, f)
		plain.SetNorms(plain.PackPanels(c, 0, plain.Panels()))
		if with, without := z.Bound(0, b), whole.Bound(0, &plain); with > without/4 {
			t.Errorf("%s: the bound with the outliers apart is %g, without %g: want a quarter or less", name, with, without)
		}
	}
}
