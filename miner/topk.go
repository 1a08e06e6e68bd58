package miner

import (
	"math"
	"math/bits"
	"slices"
	"unsafe"
)

// Candidate is one corpus item and its score against a query. Row is the
// item's global corpus row: its place in corpus order, which breaks ties.
type Candidate struct {
	Row   int64
	Score float32
}

// Better reports whether a ranks before b: higher score first, and on equal
// scores the lower corpus row.
func Better(a, b Candidate) bool {
	return a.Score > b.Score || (a.Score == b.Score && a.Row < b.Row)
}

// topK keeps the k best candidates offered (each row at most once, in any
// order), in one of two ways:
//
//   - a heap whose root is the worst of the k (small k): an entry costs a
//     sift of log k levels, each a branch the CPU cannot predict;
//   - a buffer (large k): entries are appended, as sortable keys, to room
//     for 2k, and when it is full the k best are selected (selectKeys,
//     linear on average) and the rest dropped, so an entry costs O(1)
//     amortised. The price is a gate that lags: between compactions it is
//     the k-th best of the last one, so more candidates enter than with a
//     heap, but each is cheap.
//
// Either way gate, once set, is a candidate the final k best are all at
// least as good as, so only a candidate Better than it may enter: the heap's
// root, or the buffer's k-th at its last compaction. Scores below floor,
// when hasFloor is set, are never kept (Tile.Floor).
type topK struct {
	k        int
	floor    float32
	hasFloor bool
	gate     Candidate
	gated    bool

	h []Candidate // heap mode: the heap; buffered mode: the storage of keys

	buffered bool
	keys     []uint64 // buffered mode: the entries, as keyOf; cap 2k or more
	base     int64    // buffered mode: the tile's first row (keys hold row − base)
}

// bufferFrom is the smallest k kept in a buffer rather than a heap: below
// it the heap measured faster (BenchmarkTopK); tests lower it to run every
// search with either.
var bufferFrom = 32

// maxKeyRows is the most corpus rows a tile may have for its keys: a key
// holds row − base in 31 bits.
const maxKeyRows = 1 << 31

// newTopK returns a top k for a tile of rows corpus rows starting at global
// row base, with store (len 0) as its storage: room for min(k, rows)
// candidates, which its sorted list then occupies. A buffer compacts when
// it holds k + slack keys (slack in [1, k]): a smaller slack keeps the gate
// closer to the true k-th at the price of more compactions.
func newTopK(k, slack int, store []Candidate, base int64, rows int) topK {
	t := topK{k: k, h: store[:0]}
	if k >= bufferFrom && int64(rows) <= maxKeyRows {
		// A Candidate is 16 bytes and a key 8: the storage of min(k, rows)
		// candidates holds 2k keys, or more keys than there are rows.
		t.buffered, t.base = true, base
		n := 2 * cap(store)
		if n > 0 {
			t.keys = unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(store[:1]))), n)[:0:min(n, k+max(1, min(slack, k)))]
		}
	}
	return t
}

// setFloor makes the top k refuse scores below f.
func (t *topK) setFloor(f float32) { t.floor, t.hasFloor = f, true }

// threshold returns the lowest score that may still enter, if there is one:
// the gate's when it is set (then at least the floor, since nothing below
// it entered), else the floor.
func (t *topK) threshold() (float32, bool) {
	if t.gated {
		return t.gate.Score, true
	}
	return t.floor, t.hasFloor
}

// kth returns a lower bound on the k-th best score of the final k, if one
// is known from the candidates offered: the gate's.
func (t *topK) kth() (float32, bool) { return t.gate.Score, t.gated }

// below reports whether a score x, or any below it, is known to be out of
// the final k: below the gate's score (k candidates scoring at least that
// much have been offered).
func (t *topK) below(x float64) bool { return t.gated && x < float64(t.gate.Score) }

// offer adds (row, v) if it can be among the k best; the inline test keeps
// the common case (a candidate no better than the gate) cheap.
func offer(t *topK, row int64, v float32) {
	if t.gated && (v < t.gate.Score || (v == t.gate.Score && row > t.gate.Row)) {
		return
	}
	t.push(Candidate{Row: row, Score: v})
}

// push adds c, which is Better than the gate if one is set.
func (t *topK) push(c Candidate) {
	if t.k == 0 || t.hasFloor && c.Score < t.floor {
		return
	}
	if t.buffered {
		t.keys = append(t.keys, t.keyOf(c))
		if len(t.keys) == cap(t.keys) && len(t.keys) > t.k {
			t.gate, t.gated = t.candidateOf(selectKeys(t.keys, t.k)), true
			t.keys = t.keys[:t.k]
		}
		return
	}
	if len(t.h) < t.k {
		t.h = append(t.h, c)
		t.up(len(t.h) - 1)
		if len(t.h) < t.k {
			return
		}
	} else {
		t.h[0] = c
		t.down(0)
	}
	t.gate, t.gated = t.h[0], true
}

// Keys. keyOf maps a candidate to a uint64 that is larger exactly when the
// candidate is Better, so that the buffer selects and sorts plain integers:
// the score's bits made monotone in the top 32 bits (the sign flipped for
// positive scores, all bits for negative ones), then 2^31−1 − (row − base),
// then one bit set for a score of −0, which Better ranks equal to +0 (the
// rows decide) and which must come back with its sign (the results are the
// heap's, bit for bit). Two keys of distinct rows never tie.
func (t *topK) keyOf(c Candidate) uint64 {
	b := math.Float32bits(c.Score)
	var negZero uint64
	if b == 1<<31 {
		b, negZero = 0, 1
	}
	return uint64(orderedBits(b))<<32 | uint64(maxKeyRows-1-(c.Row-t.base))<<1 | negZero
}

// candidateOf inverts keyOf.
func (t *topK) candidateOf(key uint64) Candidate {
	b := floatBits(uint32(key >> 32))
	if key&1 != 0 {
		b = 1 << 31
	}
	return Candidate{Row: t.base + maxKeyRows - 1 - int64(uint32(key)>>1), Score: math.Float32frombits(b)}
}

// orderedBits maps a float32's bits to a uint32 that orders as the float
// (−0 below +0; not NaN): the sign flipped for a positive value, every bit
// for a negative one. floatBits inverts it.
func orderedBits(b uint32) uint32 {
	if b>>31 != 0 {
		return ^b
	}
	return b | 1<<31
}

func floatBits(o uint32) uint32 {
	if o>>31 != 0 {
		return o &^ (1 << 31)
	}
	return ^o
}

// selectKeys reorders v so that v[:k] holds its k largest keys, and returns
// the smallest of them (1 ≤ k ≤ len(v)): a quickselect (Hoare's partition
// around the median of three), O(len(v)) on average; the standard library
// has no selection. The top-k buffer and the seed's topRows feed it what its
// last call left, whose order can defeat the median of three again and again
// (a buffer of k + 1 took 1,000× its average), so after 2·log₂ len(v) rounds
// it sorts the rest instead: O(n log n) at worst.
func selectKeys[K ~uint64](v []K, k int) K {
	lo, hi, t := 0, len(v)-1, k-1
	for rounds := 2 * bits.Len(uint(len(v))); lo < hi; rounds-- {
		if rounds == 0 {
			slices.Sort(v[lo : hi+1])
			slices.Reverse(v[lo : hi+1])
			return v[t]
		}
		a, b, c := v[lo], v[(lo+hi)/2], v[hi]
		p := max(min(a, b), min(max(a, b), c)) // the median of the three
		i, j := lo, hi
		for i <= j {
			for v[i] > p {
				i++
			}
			for v[j] < p {
				j--
			}
			if i <= j {
				v[i], v[j] = v[j], v[i]
				i++
				j--
			}
		}
		// v[lo:j+1] ≥ p ≥ v[i:hi+1], and v[j+1:i] (if any) equals p.
		switch {
		case t <= j:
			hi = j
		case t >= i:
			lo = i
		default:
			return v[t]
		}
	}
	return v[t]
}

func (t *topK) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !Better(t.h[p], t.h[i]) { // parent is already the worse one
			break
		}
		t.h[p], t.h[i] = t.h[i], t.h[p]
		i = p
	}
}

func (t *topK) down(i int) {
	n := len(t.h)
	for {
		w := i
		l, r := 2*i+1, 2*i+2
		if l < n && Better(t.h[w], t.h[l]) {
			w = l
		}
		if r < n && Better(t.h[w], t.h[r]) {
			w = r
		}
		if w == i {
			return
		}
		t.h[w], t.h[i] = t.h[i], t.h[w]
		i = w
	}
}

// sorted returns the k best candidates held, best first, in place in the
// storage, and leaves the top k empty, with no room: the slice is the
// caller's now.
func (t *topK) sorted() []Candidate {
	if t.buffered {
		return t.sortedKeys()
	}
	// A heap sort: the worst, at the root, goes to the end of the shrinking
	// heap.
	all := t.h
	for n := len(all); n > 1; n-- {
		all[0], all[n-1] = all[n-1], all[0]
		t.h = all[:n-1]
		t.down(0)
	}
	t.h = nil
	return all[:len(all):len(all)]
}

// sortedKeys is sorted in buffered mode: the k largest keys, sorted from
// the largest, become candidates in the same storage. Candidate i covers
// keys 2i and 2i+1, which are i or later, so going from the last to the
// first overwrites only keys already read.
func (t *topK) sortedKeys() []Candidate {
	keys := t.keys
	if len(keys) > t.k {
		selectKeys(keys, t.k)
		keys = keys[:t.k]
	}
	slices.Sort(keys)
	slices.Reverse(keys)
	all := t.h[:len(keys):len(keys)]
	for i := len(keys) - 1; i >= 0; i-- {
		all[i] = t.candidateOf(keys[i])
	}
	t.h, t.keys = nil, nil
	return all
}
