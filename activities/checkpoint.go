package activities

// The checkpoint files under _work/: one partial per tile (partial.go), one
// file of candidate windows per block. They hold miner values (global corpus
// rows, float32 scores) and the corpus ids of the rows they name, in a compact
// binary layout, zstd-compressed, byte-identical for identical content. No
// other tool reads them.
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
	zstdDecoder, _ = zstd.NewReader(nil)
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

func (e *encoder) table(t *idTable) {
	e.u(uint64(len(t.rows)))
	prev := int64(0)
	for _, r := range t.rows {
		e.u(uint64(r - prev))
		prev = r
	}
	for _, id := range t.ids {
		e.s(id)
	}
}

func (e *encoder) candidates(cs []miner.Candidate) {
	for _, c := range cs {
		e.u(uint64(c.Row))
		e.f(c.Score)
	}
}

// writeTo compresses what was encoded into w.
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

// decodeBuffer returns a buffer for the decompressed bytes of data when its
// zstd frame header says how many there are (EncodeAll writes it), so that
// decoding does not grow one by copying, and nil otherwise. A damaged header
// makes at most a buffer of 64 times data's size, then fails to decode.
func decodeBuffer(data []byte) []byte {
	var h zstd.Header
	if h.Decode(data) != nil || !h.HasFCS || h.FrameContentSize > 64*uint64(len(data)) {
		return nil
	}
	return hugepages.Make[byte](int(h.FrameContentSize))[:0]
}

func newDecoder(data []byte) (*decoder, error) {
	raw, err := zstdDecoder.DecodeAll(data, decodeBuffer(data))
	if err != nil {
		return nil, err
	}
	return &decoder{b: raw}, nil
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

func (d *decoder) table() *idTable {
	n := d.count()
	t := &idTable{rows: make([]int64, n), ids: make([]string, n)}
	row := int64(0)
	for i := range t.rows {
		row += int64(d.uvarint())
		t.rows[i] = row
	}
	for i := range t.ids {
		t.ids[i] = d.str()
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

// idTable names corpus rows: rows ascending, ids beside. One table serves a
// whole file.
type idTable struct {
	rows []int64
	ids  []string
}

// id returns the id of row, if the table has it.
func (t *idTable) id(row int64) (string, bool) {
	i, ok := slices.BinarySearch(t.rows, row)
	if !ok {
		return "", false
	}
	return t.ids[i], true
}

// rowSet collects distinct rows of [lo, lo+n) in a bitmap: marking one per
// candidate and reading them back in order costs less than a map or a sort.
type rowSet struct {
	lo, n int64
	bits  []uint64
}

func newRowSet(lo, n int64) *rowSet { return &rowSet{lo: lo, n: n, bits: make([]uint64, (n+63)/64)} }

// add marks row r, and reports false for a row outside the set's range.
func (s *rowSet) add(r int64) bool {
	i := r - s.lo
	if i < 0 || i >= s.n {
		return false
	}
	s.bits[i/64] |= 1 << (i % 64)
	return true
}

// has reports whether row r is marked.
func (s *rowSet) has(r int64) bool {
	i := r - s.lo
	return i >= 0 && i < s.n && s.bits[i/64]&(1<<(i%64)) != 0
}

// rows lists the marked rows, ascending.
func (s *rowSet) rows() []int64 {
	var rows []int64
	for w, bits := range s.bits {
		for ; bits != 0; bits &= bits - 1 {
			rows = append(rows, s.lo+int64(w)*64+int64(mathbits.TrailingZeros64(bits)))
		}
	}
	return rows
}

// queryWindow is what MergeBlock leaves for Rebalance about one query.
type queryWindow struct {
	ID        string
	Positives []string // the input's positive ids (pairs mode)
	Label     string   // labeled mode
	Win       miner.Window
	IDs       *idTable // has every row of Win; shared by the block's queries
}

// windowVersion is the first number of a block's windows file.
const windowVersion = 1

// writeWindows writes a block's windows, whose rows table names:
//
//	u version (windowVersion), u queries, id table
//	per query:
//	  s id, u positives, s each, s label
//	  u hard, then u row, f score, v rank each
//	  u easy, then u row, f score each
//	  u positives scored, then u row, f score each
//	  f anchor, u has anchor (0 or 1), 8 × v removed counts
func encodeWindows(qws []queryWindow, table *idTable) []byte {
	size := 0
	for _, qw := range qws {
		size += 64 + len(qw.ID) + 10*(len(qw.Win.Hard)+len(qw.Win.Easy)+len(qw.Win.Positives))
		for _, p := range qw.Positives {
			size += 2 + len(p)
		}
	}
	for _, id := range table.ids {
		size += 4 + len(id)
	}
	e := encoder{b: hugepages.Make[byte](size)[:0]}
	e.u(windowVersion)
	e.u(uint64(len(qws)))
	e.table(table)
	for _, qw := range qws {
		e.s(qw.ID)
		e.u(uint64(len(qw.Positives)))
		for _, p := range qw.Positives {
			e.s(p)
		}
		e.s(qw.Label)
		win := qw.Win
		e.u(uint64(len(win.Hard)))
		for _, n := range win.Hard {
			e.u(uint64(n.Row))
			e.f(n.Score)
			e.v(int64(n.Rank))
		}
		e.u(uint64(len(win.Easy)))
		for _, n := range win.Easy {
			e.u(uint64(n.Row))
			e.f(n.Score)
		}
		e.u(uint64(len(win.Positives)))
		e.candidates(win.Positives)
		e.f(win.Anchor)
		has := uint64(0)
		if win.HasAnchor {
			has = 1
		}
		e.u(has)
		for _, n := range removedCounts(&win.Removed) {
			e.v(*n)
		}
	}
	return e.compressed()
}

// removedCounts lists the fields of a miner.Removed, in the file's order.
func removedCounts(rm *miner.Removed) [8]*int64 {
	return [8]*int64{&rm.Pool, &rm.Positive, &rm.AbsoluteMargin, &rm.RelativeMargin,
		&rm.MaxScore, &rm.MinScore, &rm.RangeMax, &rm.RangeMin}
}

func readWindows(data []byte, name string) ([]queryWindow, error) {
	d, err := newDecoder(data)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if v := d.uvarint(); v != windowVersion && d.err == nil {
		return nil, fmt.Errorf("read %s: windows version %d, want %d", name, v, windowVersion)
	}
	qws := make([]queryWindow, d.count())
	table := d.table()
	for i := range qws {
		qw := &qws[i]
		qw.ID, qw.Positives, qw.Label, qw.IDs = d.str(), d.strs(), d.str(), table
		w := &qw.Win
		if n := d.count(); n > 0 {
			w.Hard = make([]miner.Negative, n)
			for j := range w.Hard {
				w.Hard[j] = miner.Negative{Row: int64(d.uvarint()), Score: d.f32(), Kind: miner.KindHard, Rank: int32(d.varint())}
			}
		}
		if n := d.count(); n > 0 {
			w.Easy = make([]miner.Negative, n)
			for j := range w.Easy {
				w.Easy[j] = miner.Negative{Row: int64(d.uvarint()), Score: d.f32(), Kind: miner.KindEasy, Rank: -1}
			}
		}
		w.Positives = d.candidates(d.count())
		w.Anchor, w.HasAnchor = d.f32(), d.uvarint() == 1
		for _, n := range removedCounts(&w.Removed) {
			*n = d.varint()
		}
	}
	if err := d.end(); err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return qws, nil // a row the table lacks is an error where its id is looked up
}

// eachWindowRow calls f with every row of a window, until f fails.
func eachWindowRow(win miner.Window, f func(row int64) error) error {
	for _, ns := range [2][]miner.Negative{win.Hard, win.Easy} {
		for _, n := range ns {
			if err := f(n.Row); err != nil {
				return err
			}
		}
	}
	for _, c := range win.Positives {
		if err := f(c.Row); err != nil {
			return err
		}
	}
	return nil
}
