// Package checkpoint encodes and decodes the checkpoint files a job keeps
// under _work/<fingerprint>/: one partial per tile (partial.go), one file of
// candidate windows per query block (windows.go). It is pure: bytes in,
// values out, no store and no Temporal, so it can be tested and fuzzed alone.
//
// The files hold miner values (global corpus rows, float32 scores) and the
// corpus ids of the rows they name, in a compact binary layout,
// zstd-compressed, byte-identical for identical content. No other tool reads
// them.
//
// They were Parquet, then gob: decoding nested rows through parquet-go's
// reflection was most of a merge's time, and gob spent most of its time on
// one id string per candidate, when the candidates of a file name far fewer
// distinct rows than they hold. Now each file names each row once, in an id
// table, and the rest is numbers.
//
// The layout is written in unsigned varints (u), signed varints (v),
// little-endian float32 bits (f) and length-prefixed bytes (s). An id table is
// u rows, then the rows ascending as u deltas, then the id of each as s.
package checkpoint

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	mathbits "math/bits"
	"slices"

	"github.com/klauspost/compress/zstd"

	"github.com/hardneg/hardneg/internal/hugepages"
	"github.com/hardneg/hardneg/miner"
)

// One encoder and decoder serve every checkpoint: EncodeAll and DecodeAll are
// safe for concurrent use, and building them costs more than a small file.
var (
	zstdEncoder, _ = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest))
	// DecodeAll decodes at most the capacity of the buffer it is given
	// (decodeBuffer): a small corrupt file must not inflate to gigabytes.
	zstdDecoder, _ = zstd.NewReader(nil, zstd.WithDecodeAllCapLimit(true))
)

// encoder appends the checkpoint layout to a buffer.
type encoder struct{ b []byte }

func (e *encoder) u(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) v(v int64)  { e.b = binary.AppendVarint(e.b, v) }
func (e *encoder) f(v float32) {
	e.b = binary.LittleEndian.AppendUint32(e.b, math.Float32bits(v))
}

func (e *encoder) s(v string) {
	e.u(uint64(len(v)))
	e.b = append(e.b, v...)
}

func (e *encoder) table(t *IDTable) {
	e.u(uint64(len(t.Rows)))
	prev := int64(0)
	for _, r := range t.Rows {
		e.u(uint64(r - prev))
		prev = r
	}
	for _, id := range t.IDs {
		e.s(id)
	}
}

func (e *encoder) candidates(cs []miner.Candidate) {
	for _, c := range cs {
		e.u(uint64(c.Row))
		e.f(c.Score)
	}
}

// compressed returns the encoded bytes, compressed with zstd. The output
// buffer has room for all of them: most of a checkpoint (scores) hardly
// compresses, and growing the buffer would copy it.
func (e *encoder) compressed() []byte {
	return zstdEncoder.EncodeAll(e.b, hugepages.Make[byte](len(e.b) + 64)[:0])
}

// decoder reads the checkpoint layout; its first error sticks and later reads
// return zeros.
type decoder struct {
	b   []byte
	err error
}

var errShort = errors.New("the file ends early")

// maxRatio bounds how many decompressed bytes one byte of a checkpoint may
// give, above minDecoded. Most of a checkpoint (scores, rows) hardly
// compresses; a tile whose floors left out every candidate is mostly
// zeros, hence the room.
const (
	maxRatio   = 1024
	minDecoded = 16 << 20
)

// decodeLimit is the most bytes data may decompress to: maxRatio times its
// size, plus minDecoded.
func decodeLimit(data []byte) int { return maxRatio*len(data) + minDecoded }

// decodeBuffer returns the buffer the decompressed bytes of data go into:
// as large as the zstd frame header says (EncodeAll writes it), so that
// decoding does not grow one by copying, or, without a size within
// decodeLimit, a small one that newDecoder grows.
func decodeBuffer(data []byte) []byte {
	var h zstd.Header
	if h.Decode(data) == nil && h.HasFCS && h.FrameContentSize <= uint64(decodeLimit(data)) {
		return hugepages.Make[byte](int(h.FrameContentSize))[:0]
	}
	return make([]byte, 0, 4*len(data)+4096) // only a file this program did not write
}

// newDecoder decompresses data. The decoder decodes no more than the
// capacity of its buffer, which doubles up to decodeLimit: a damaged or
// hostile frame fails rather than allocate without bound.
func newDecoder(data []byte) (*decoder, error) {
	buf, limit := decodeBuffer(data), decodeLimit(data)
	for {
		raw, err := zstdDecoder.DecodeAll(data, buf)
		if errors.Is(err, zstd.ErrDecoderSizeExceeded) && cap(buf) < limit {
			buf = make([]byte, 0, min(2*cap(buf), limit))
			continue
		}
		if err != nil {
			return nil, err
		}
		return &decoder{b: raw}, nil
	}
}

func (d *decoder) uvarint() uint64 { return readVarint(d, binary.Uvarint) }
func (d *decoder) varint() int64   { return readVarint(d, binary.Varint) }

// readVarint reads one varint with read (binary.Uvarint or binary.Varint).
func readVarint[T uint64 | int64](d *decoder, read func([]byte) (T, int)) T {
	if d.err != nil {
		return 0
	}
	v, n := read(d.b)
	if n <= 0 {
		d.err = errShort
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a length, which cannot exceed the bytes left (each element
// takes at least one): a corrupt length must not allocate gigabytes.
func (d *decoder) count() int {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		if d.err == nil {
			d.err = errShort
		}
		return 0
	}
	return int(n)
}

func (d *decoder) f32() float32 {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 4 {
		d.err = errShort
		return 0
	}
	v := math.Float32frombits(binary.LittleEndian.Uint32(d.b))
	d.b = d.b[4:]
	return v
}

func (d *decoder) str() string {
	n := d.count()
	if d.err != nil {
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) strs() []string {
	n := d.count()
	if n == 0 {
		return nil
	}
	ss := make([]string, n)
	for i := range ss {
		ss[i] = d.str()
	}
	return ss
}

func (d *decoder) table() *IDTable {
	n := d.count()
	t := &IDTable{Rows: make([]int64, n), IDs: make([]string, n)}
	row := int64(0)
	for i := range t.Rows {
		row += int64(d.uvarint())
		t.Rows[i] = row
	}
	for i := range t.IDs {
		t.IDs[i] = d.str()
	}
	return t
}

func (d *decoder) candidates(n int) []miner.Candidate {
	if n == 0 {
		return nil
	}
	cs := make([]miner.Candidate, n)
	for i := range cs {
		cs[i] = miner.Candidate{Row: int64(d.uvarint()), Score: d.f32()}
	}
	return cs
}

// end reports the first error, or bytes left after the last value.
func (d *decoder) end() error {
	if d.err == nil && len(d.b) > 0 {
		d.err = fmt.Errorf("%d bytes after the last query", len(d.b))
	}
	return d.err
}

// IDTable names corpus rows: rows ascending, ids beside. One table serves a
// whole file.
type IDTable struct {
	Rows []int64
	IDs  []string
}

// ID returns the id of row, if the table has it.
func (t *IDTable) ID(row int64) (string, bool) {
	i, ok := slices.BinarySearch(t.Rows, row)
	if !ok {
		return "", false
	}
	return t.IDs[i], true
}

// RowSet collects distinct rows of [lo, lo+n) in a bitmap: marking one per
// candidate and reading them back in order costs less than a map or a sort.
type RowSet struct {
	lo, n int64
	bits  []uint64
}

// NewRowSet returns an empty set of the rows [lo, lo+n).
func NewRowSet(lo, n int64) *RowSet { return &RowSet{lo: lo, n: n, bits: make([]uint64, (n+63)/64)} }

// Add marks row r, and reports false for a row outside the set's range.
func (s *RowSet) Add(r int64) bool {
	i := r - s.lo
	if i < 0 || i >= s.n {
		return false
	}
	s.bits[i/64] |= 1 << (i % 64)
	return true
}

// Has reports whether row r is marked.
func (s *RowSet) Has(r int64) bool {
	i := r - s.lo
	return i >= 0 && i < s.n && s.bits[i/64]&(1<<(i%64)) != 0
}

// Rows lists the marked rows, ascending.
func (s *RowSet) Rows() []int64 {
	var rows []int64
	for w, bits := range s.bits {
		for ; bits != 0; bits &= bits - 1 {
			rows = append(rows, s.lo+int64(w)*64+int64(mathbits.TrailingZeros64(bits)))
		}
	}
	return rows
}

// PruneTables drops the ids of rows no longer in any merged result, once the
// tables hold more than twice as many as the results, so that a block's ids
// stay the size of its results rather than growing with every shard.
func PruneTables(tables []*IDTable, merged []miner.Partial, corpusRows int64) {
	keep, held := 0, 0
	for _, p := range merged {
		keep += len(p.Top) + len(p.Positives) + len(p.Easy)
	}
	for _, t := range tables {
		held += len(t.Rows)
	}
	if held <= 2*keep+16 {
		return
	}
	live := NewRowSet(0, corpusRows)
	for _, p := range merged {
		EachRow(p, func(r int64) error { live.Add(r); return nil })
	}
	for _, t := range tables {
		n := 0
		for i, r := range t.Rows {
			if live.Has(r) {
				t.Rows[n], t.IDs[n] = r, t.IDs[i]
				n++
			}
		}
		clear(t.IDs[n:])
		t.Rows, t.IDs = t.Rows[:n], t.IDs[:n]
	}
}
