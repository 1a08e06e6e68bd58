package kernel

import (
	"math"
	"math/rand/v2"
	"testing"
)

// checkResidual checks the residual check's bound on pair (i, j) of z and
// b: the exact score lies within ResidualCoefs' bound of a (the pair's
// approximate score, its shift added) plus ResidualValue. It returns the
// error as a share of the bound.
func checkResidual(t *testing.T, name string, z *QuantQueries, b *QuantBlock, i, j int, a float64, exact float32) float64 {
	t.Helper()
	dot := make([]int32, 1)
	ResidualDots(dot, z.ResidualRow(i), b.RowMajor, []int32{int32(j * b.RowStride)})
	v := z.ResidualValue(i, dot[0], b.Scale[j])
	rb := z.ResidualCoefs(i).Of(b.RowNorms[j])
	d := math.Abs(float64(exact) - (a + v))
	if d > rb {
		t.Fatalf("%s pair (%d,%d): exact %v, approximate %v + residual %v differ by %g > residual bound %g", name, i, j, exact, a, v, d, rb)
	}
	if rb == 0 {
		return 0
	}
	return d / rb
}

// TestResidualNarrows checks that the residual check's bound is narrower
// than the bound on rows without structure, where the query's error is
// about two fifths of it (about 99 levels against the corpus's 63): at most
// three quarters of it on every row.
func TestResidualNarrows(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	const nq, nc, dim = 8, 64, 384
	f := BytesFormat
	q, c := randVecs(r, nq, dim), randVecs(r, nc, dim)
	z, b, _, _ := blockQuantScores(QuantGo, q, c, nq, nc, dim, f, nil, nil)
	for i := range nq {
		for j := range nc {
			if rb, plain := z.ResidualCoefs(i).Of(b.RowNorms[j]), z.RowBound(i, b, j); 4*rb > 3*plain {
				t.Fatalf("pair (%d,%d): residual bound %g, bound %g: want three quarters or less", i, j, rb, plain)
			}
		}
	}
}

// TestResidualBoundTerms checks the query's term of the residual bound,
// ‖e₂‖·‖ĉ‖, on rows made to reach it: integers within ±63 (so ĉ = c, no
// corpus error) with the signs of the query's e₂, so that e₂·ĉ is most of
// ‖e₂‖·‖ĉ‖. The error must stay within the bound and reach a third of it,
// which a bound without the term would miss.
func TestResidualBoundTerms(t *testing.T) {
	r := rand.New(rand.NewPCG(33, 34))
	const nq, dim = 6, 96
	f := BytesFormat
	q := randVecs(r, nq, dim)
	z := QuantizeQueries(q, nq, dim, f)
	z.AddResidual(q)
	c := make([]float32, nq*dim)
	for i := range nq {
		for k := range dim {
			e2 := float64(q[i*dim+k]) - float64(z.Scale[i])*float64(z.Data[i*z.Stride+k]) - float64(z.Res.Scale[i])*float64(z.Res.Data[i*z.Res.Stride+k])
			c[i*dim+k] = float32(math.Copysign(63, e2))
		}
	}
	zz, b, approx, ldd := blockQuantScores(QuantGo, q, c, nq, nq, dim, f, nil, nil)
	for _, e := range Engines() {
		exact := blockScores(e, q, c, nq, nq, dim)
		for i := range nq {
			share := checkResidual(t, e.Name, zz, b, i, i, float64(approx[i*ldd+i]), exact[i*nq+i])
			if share < 1.0/3 {
				t.Errorf("%s query %d: the error is %.3f of the residual bound on a row along its e₂: want a third or more", e.Name, i, share)
			}
		}
	}
}

// TestResidualDots checks ResidualDots (in assembly where the CPU allows)
// against an int64 sum: random bytes, the extremes (bytes 127 and 0 against
// residuals ±64, where a saturating 16-bit step would show), every count of
// rows around the four the kernel takes at a time, and several lengths.
func TestResidualDots(t *testing.T) {
	r := rand.New(rand.NewPCG(35, 36))
	for _, chunks := range []int{1, 2, 6, 12, 13} {
		n := chunks * residualAlign
		const nrows = 11
		rows := make([]uint8, nrows*n)
		for k := range rows {
			rows[k] = uint8(r.IntN(128))
		}
		for k := range n { // row 0 all 127, row 1 alternating 127 and 0
			rows[k] = 127
			rows[n+k] = uint8(127 * (k % 2))
		}
		queries := [][]int8{make([]int8, n), make([]int8, n), make([]int8, n), make([]int8, n)}
		for k := range n {
			queries[0][k] = int8(r.IntN(129) - 64)
			queries[1][k] = 64
			queries[2][k] = -64
			queries[3][k] = int8(64 - 128*(k%2))
		}
		for _, q := range queries {
			for count := range 10 {
				offs := make([]int32, count)
				for i := range offs {
					offs[i] = int32(r.IntN(nrows) * n)
				}
				if count > 1 {
					offs[0], offs[1] = 0, int32(n)
				}
				got, want := make([]int32, count), make([]int32, count)
				ResidualDots(got, q, rows, offs)
				residualDotsGo(want, q, rows, offs)
				for i, o := range offs {
					var ref int64
					for k, v := range q {
						ref += int64(v) * int64(rows[int(o)+k])
					}
					if int64(got[i]) != ref || int64(want[i]) != ref {
						t.Fatalf("%d bytes, %d rows, row %d: got %d (Go %d), want %d", n, count, i, got[i], want[i], ref)
					}
				}
			}
		}
	}
}
