package miner

import (
	"crypto/sha256"
	"encoding/binary"
	"math/bits"
	"slices"
	"strconv"
)

// QuerySeed derives the seed of one query's random choices from the job's
// seed, the run, the epoch and the query id. The derivation is SHA-256 over
// length-prefixed fields, so it is stable across Go versions and machines and
// two different tuples never share a seed by accident of concatenation.
func QuerySeed(seed uint64, run string, epoch int64, queryID string) uint64 {
	h := sha256.New()
	writeField := func(b []byte) {
		h.Write(binary.LittleEndian.AppendUint64(nil, uint64(len(b))))
		h.Write(b)
	}
	writeField(binary.LittleEndian.AppendUint64(nil, seed))
	writeField([]byte(run))
	writeField(strconv.AppendInt(nil, epoch, 10))
	writeField([]byte(queryID))
	return binary.LittleEndian.Uint64(h.Sum(nil))
}

// Streams of one query seed; each kind of random choice has its own so that
// changing one (say, the number of easy negatives) leaves the others alone.
const (
	streamSample = 0x73616d706c65 // "sample"
	streamEasy   = 0x65617379     // "easy"
)

// rng is SplitMix64 (Steele, Lea, Flood 2014). It is written here rather than
// taken from math/rand/v2 because the output must stay the same forever: the
// negatives a job picks are part of its reproducible result, and the standard
// library does not promise that its bounded draws keep their algorithm.
type rng struct{ state uint64 }

func newRNG(seed, stream uint64) *rng {
	r := &rng{state: seed ^ (stream * 0x9e3779b97f4a7c15)}
	r.next() // decorrelate nearby seeds
	return r
}

func (r *rng) next() uint64 {
	r.state += 0x9e3779b97f4a7c15
	z := r.state
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// below returns a uniform value in [0, n) for n > 0 (Lemire's
// multiply-and-reject method, unbiased).
func (r *rng) below(n uint64) uint64 {
	hi, lo := bits.Mul64(r.next(), n)
	if lo < n {
		thresh := -n % n
		for lo < thresh {
			hi, lo = bits.Mul64(r.next(), n)
		}
	}
	return hi
}

// EasyDraw returns the first n rows of the query's easy stream: distinct
// global corpus rows in [0, corpusRows), uniformly random, in draw order.
// It depends only on the query seed and the corpus size, never on how the
// corpus is sharded: every tile computes the same draw and scores the rows
// that fall in its range, and the selection walks the merged draw in order,
// skipping rows that are not eligible. Fewer than n rows come back when the
// corpus is smaller than n.
func EasyDraw(querySeed uint64, corpusRows int64, n int) []int64 {
	if corpusRows <= 0 || n <= 0 {
		return nil
	}
	if int64(n) > corpusRows {
		n = int(corpusRows)
	}
	r := newRNG(querySeed, streamEasy)
	if int64(n)*2 > corpusRows {
		// Dense: a partial Fisher-Yates shuffle of all rows (the corpus is small).
		all := make([]int64, corpusRows)
		for i := range all {
			all[i] = int64(i)
		}
		for i := 0; i < n; i++ {
			j := i + int(r.below(uint64(corpusRows)-uint64(i)))
			all[i], all[j] = all[j], all[i]
		}
		return all[:n]
	}
	// Sparse: rejection of repeats; at most half the rows are taken, so each
	// draw is accepted with probability at least 1/2.
	out := make([]int64, 0, n)
	seen := func(v int64) bool { return slices.Contains(out, v) }
	if n > linearDrawMax {
		set := make(map[int64]struct{}, n)
		seen = func(v int64) bool {
			_, dup := set[v]
			set[v] = struct{}{}
			return dup
		}
	}
	for len(out) < n {
		if v := int64(r.below(uint64(corpusRows))); !seen(v) {
			out = append(out, v)
		}
	}
	return out
}

// linearDrawMax is the longest easy draw whose repeats are found by scanning
// the rows drawn so far. Every tile draws each query's stream (a pool's
// worth of rows, some fifty), and a map per query and tile cost more than
// its scan.
const linearDrawMax = 128

// permutation returns a seeded uniform permutation of [0, n).
func permutation(querySeed uint64, n int) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	r := newRNG(querySeed, streamSample)
	for i := 0; i < n-1; i++ {
		j := i + int(r.below(uint64(n-i)))
		p[i], p[j] = p[j], p[i]
	}
	return p
}
