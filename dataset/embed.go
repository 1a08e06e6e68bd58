package dataset

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"
	"unsafe"

	"github.com/parquet-go/parquet-go/format"
)

// chunkInfo is the embedding column chunk of one row group.
type chunkInfo struct {
	rowGroup   int
	firstRow   int64 // in the shard
	rows       int64
	start, end int64 // byte range in the file
	codec      format.CompressionCodec
}

// embeddingChunks lists the embedding column chunks, in row order.
func (s *Shard) embeddingChunks() []chunkInfo {
	var chunks []chunkInfo
	var row int64
	for i, rg := range s.file.Metadata().RowGroups {
		m := &rg.Columns[s.embedding.index].MetaData
		start, length := chunkRange(m)
		chunks = append(chunks, chunkInfo{rowGroup: i, firstRow: row, rows: rg.NumRows, start: start, end: start + length, codec: m.Codec})
		row += rg.NumRows
	}
	return chunks
}

// embErr returns an InputError about the embedding column.
func (s *Shard) embErr(row int64, format string, args ...any) *InputError {
	return inputErrorf(s.name, s.embedding.name, row, format, args...)
}

// probeDimension finds the dimension: the number of entries before the
// second row starts, reading only the level sections of the first data pages.
func (s *Shard) probeDimension() (int, error) {
	pr := pageReaders.Get().(*pageReader)
	defer pageReaders.Put(pr)
	var h hybrid
	var buf [1024]uint32
	for _, c := range s.embeddingChunks() {
		if c.rows == 0 {
			continue
		}
		count := 0 // entries of row 0 seen so far
		pos := c.start
		for pos < c.end {
			hdr := make([]byte, min(64<<10, c.end-pos))
			if err := readFull(s.r, hdr, pos); err != nil {
				return 0, s.wrapIO(err)
			}
			ph := new(format.PageHeader)
			n, err := decodeHeader(hdr, ph)
			if err != nil {
				return 0, s.embErr(-1, "corrupt page header at offset %d: %v", pos, err)
			}
			size := int(ph.CompressedPageSize)
			if pos+int64(n)+int64(size) > c.end {
				return 0, s.embErr(-1, "corrupt page at offset %d: runs past the end of its column chunk", pos)
			}
			next := pos + int64(n) + int64(size)
			if ph.Type != format.DataPage && ph.Type != format.DataPageV2 {
				pos = next
				continue
			}
			if _, _, _, err := pr.open(ph, c.codec, streamBody(s.r, pos+int64(n), size), size, s.embedding.maxRep, s.embedding.maxDef); err != nil {
				return 0, s.corruptOrIO(-1, pos, err)
			}
			// The first entry of the first row tells whether row 0 has values at all.
			if count == 0 {
				h.reset(pr.def, bitWidth(s.embedding.maxDef))
				if v, _, lits, err := h.next(buf[:]); err == nil {
					if lits != nil {
						v = lits[0]
					}
					if int(v) < s.embedding.listDef {
						return 0, s.embErr(0, "%s embedding", nullOrEmpty(int(v), s.embedding.listDef))
					}
				}
			}
			h.reset(pr.rep, bitWidth(s.embedding.maxRep))
			numValues := entries(ph)
			for seen := 0; seen < numValues; {
				v, k, lits, err := h.next(buf[:])
				if err != nil {
					return 0, s.embErr(-1, "corrupt repetition levels in the page at offset %d: %v", pos, err)
				}
				k = min(k, numValues-seen)
				for i := 0; i < k; i++ {
					if lits != nil {
						v = lits[i]
					}
					if v == 0 && (count > 0 || seen+i > 0) {
						return count, nil
					}
					count++
				}
				seen += k
			}
			pos = next
		}
		if c.rows == 1 && count > 0 {
			return count, nil
		}
		return 0, s.embErr(-1, "row group %d holds %d rows but its embedding column holds one", c.rowGroup, c.rows)
	}
	return 0, s.embErr(-1, "no rows")
}

// entries returns the number of level entries of a data page.
func entries(h *format.PageHeader) int {
	if h.Type == format.DataPageV2 {
		return int(h.DataPageHeaderV2.V.NumValues)
	}
	return int(h.DataPageHeader.V.NumValues)
}

// nullOrEmpty names what a definition level below listDef means.
func nullOrEmpty(def, listDef int) string {
	if def < listDef-1 {
		return "null"
	}
	return "empty"
}

// wrapIO wraps an error of the reader with the shard's name.
func (s *Shard) wrapIO(err error) error {
	var ioe *ioError
	if errors.As(err, &ioe) {
		if ioe.short {
			return inputErrorf(s.name, s.embedding.name, -1, "truncated: %v", ioe.err)
		}
		return fmt.Errorf("read %s: %w", s.name, ioe.err)
	}
	return err
}

// corruptOrIO reports a failure to decode the page at offset off: an error of
// the reader as such, anything else as corrupt input.
func (s *Shard) corruptOrIO(row, off int64, err error) error {
	var ioe *ioError
	var ie *InputError
	switch {
	case errors.As(err, &ioe):
		return s.wrapIO(err)
	case errors.As(err, &ie):
		return err
	}
	return s.embErr(row, "corrupt page at offset %d: %v", off, err)
}

// ReadEmbeddings reads every embedding of the shard into one row-major slice
// of Rows()*Dim() float32s, reusing dst when it is large enough. Every row must
// hold Dim() finite values; the first row that does not is reported as an
// *InputError naming it (a null or empty list, a null element, NaN or ±Inf,
// another length). Float64 values are rounded to float32 (and must be finite
// there too); float16 values are widened exactly.
//
// The column chunks are split into pages, and up to Parallelism pages are
// decompressed and decoded at once, each straight into its place in dst.
func (s *Shard) ReadEmbeddings(dst []float32) ([]float32, error) {
	return s.ReadEmbeddingsRange(0, s.rows, dst)
}

// ReadEmbeddingsRange reads the embeddings of rows [lo, hi) into one
// row-major slice of (hi-lo)*Dim() float32s, reusing dst when it is large
// enough. It reads only the row groups that hold those rows and, within a row
// group, only the pages that do: found from the column chunk's offset index
// when the file has one, or else from the page headers (a version 2 page
// counts its rows; the rows of a version 1 page are counted from its
// repetition levels, which is all of the page a skipped page costs for zstd
// and uncompressed pages). A page is decoded only as far as the range needs.
//
// Every row of the range is checked as ReadEmbeddings checks it, and errors
// name rows by their number within the shard. The levels of a page read are
// checked whole, so a malformed row outside the range that shares a page with
// it (a null or empty list, another length) is reported too.
//
// A range outside [0, Rows()] is an error, but not an *InputError: it is the
// caller's mistake, not the file's.
func (s *Shard) ReadEmbeddingsRange(lo, hi int64, dst []float32) (_ []float32, err error) {
	mark := s.r.mark()
	defer func() { err = s.settle(mark, err) }()
	defer recoverCorrupt(s.name, &err)
	return s.readEmbeddingsRange(lo, hi, dst)
}

// readEmbeddingsRange is ReadEmbeddingsRange without settling read failures.
func (s *Shard) readEmbeddingsRange(lo, hi int64, dst []float32) ([]float32, error) {
	if err := s.checkRange(lo, hi); err != nil {
		return nil, err
	}
	dim := int64(s.dim)
	if hi-lo > math.MaxInt/4/dim {
		return nil, s.embErr(-1, "%d rows × %d dimensions is too large", hi-lo, s.dim)
	}
	if err := checkDecoded(s.name, s.embedding.name, (hi-lo)*dim, 4, s.size); err != nil {
		return nil, err
	}
	w := &window{lo: lo * dim, hi: hi * dim}
	w.dst = grow(dst, int(w.hi-w.lo))
	if lo == hi {
		return w.dst, nil
	}
	var first firstError
	jobs := make(chan embJob, max(s.Parallelism, 1))
	var wg sync.WaitGroup
	for range max(s.Parallelism, 1) {
		wg.Go(func() {
			pr := pageReaders.Get().(*pageReader)
			defer pageReaders.Put(pr)
			for j := range jobs {
				if first.before(j.start) {
					j.page.release()
					continue // an earlier page failed; this one cannot matter
				}
				if pos, err := s.decodePageSafely(pr, j, w); err != nil {
					first.set(pos, err)
				}
			}
		})
	}
	s.scanEmbeddings(jobs, &first, lo, hi)
	close(jobs)
	wg.Wait()
	if first.err != nil {
		return nil, first.err
	}
	return w.dst, nil
}

// checkRange checks that [lo, hi) is a range of the shard's rows.
func (s *Shard) checkRange(lo, hi int64) error {
	if lo < 0 || hi > s.rows || lo > hi {
		return fmt.Errorf("rows [%d, %d) of %s: outside its %d rows", lo, hi, s.name, s.rows)
	}
	return nil
}

// window is the part of the shard being read: embedding entries [lo, hi),
// counted as if every row held Dim() entries, go to dst[0 : hi-lo].
type window struct {
	lo, hi int64
	dst    []float32
}

// embJob is one data page of the embedding column to decode.
type embJob struct {
	page  rawPage
	chunk *chunkInfo
	dict  []float32 // the chunk's dictionary, if any
	start int64     // the index of the page's first entry among all entries of the shard
	limit int64     // the end of the page's row group, in entries
}

// firstError keeps the error found at the earliest entry index. Errors are
// found out of order, but the earliest is the one whose row number is right:
// every entry before it was checked and found well formed.
type firstError struct {
	mu  sync.Mutex
	pos int64
	err error
}

func (f *firstError) set(pos int64, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err == nil || pos < f.pos {
		f.pos, f.err = pos, err
	}
}

// before reports whether an error was found before entry pos.
func (f *firstError) before(pos int64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err != nil && f.pos < pos
}

// maxSegments bounds the segments one read holds at once (read and not yet
// decoded), whatever its parallelism: 3 × 8 MiB keeps a dozen decoders busy
// on pages of a MiB or less (larger pages stream and hold no segment), and
// bounds what a many-core machine holds for reading one shard.
const maxSegments = 3

// scanEmbeddings sends out the pages of the embedding chunks that hold rows
// [lo, hi), decoding dictionaries itself, and checks that each chunk read to
// its end holds Dim() entries per row.
func (s *Shard) scanEmbeddings(jobs chan<- embJob, first *firstError, lo, hi int64) {
	pr := pageReaders.Get().(*pageReader)
	defer pageReaders.Put(pr)
	slots := make(chan struct{}, maxSegments)
	chunks := s.embeddingChunks()
	for i := range chunks {
		c := &chunks[i]
		if c.rows == 0 || c.firstRow >= hi || c.firstRow+c.rows <= lo {
			continue
		}
		if first.before(max(lo, c.firstRow) * int64(s.dim)) {
			return
		}
		cs := &chunkScan{s: s, pr: pr, c: c, jobs: jobs, first: first, slots: slots}
		var ok bool
		if lo <= c.firstRow && c.firstRow+c.rows <= hi {
			ok = cs.whole()
		} else {
			ok = cs.part(lo, hi)
		}
		if !ok {
			return
		}
	}
}

// chunkScan sends out the pages of one embedding column chunk.
type chunkScan struct {
	s     *Shard
	pr    *pageReader // the scanner's own
	c     *chunkInfo
	jobs  chan<- embJob
	first *firstError
	slots chan struct{} // bounds the segments in use, for all chunks of a read
	dict  []float32     // the chunk's dictionary, once read
}

// limits returns the scanLimits of the chunk's scans, with read as given.
func (cs *chunkScan) limits(read *int) scanLimits {
	return scanLimits{read: read, slots: cs.slots}
}

// send hands a data page whose first entry is entry start to the decoders.
func (cs *chunkScan) send(p rawPage, start int64) {
	cs.jobs <- embJob{page: p, chunk: cs.c, dict: cs.dict, start: start, limit: (cs.c.firstRow + cs.c.rows) * int64(cs.s.dim)}
}

// dictionary decodes a dictionary page and keeps it for the pages after it.
func (cs *chunkScan) dictionary(p rawPage) error {
	d, err := cs.s.decodeDictionary(cs.pr, cs.c, p)
	p.release()
	if err != nil {
		return err
	}
	cs.dict = d
	return nil
}

// dataPages returns a page handler for scanPages that keeps dictionary pages
// (for the pages after them), lets go of pages other than data pages, and
// hands data pages to f.
func (cs *chunkScan) dataPages(f func(p rawPage) error) func(p rawPage) error {
	return func(p rawPage) error {
		switch p.header.Type {
		case format.DictionaryPage:
			return cs.dictionary(p)
		case format.DataPage, format.DataPageV2:
			return f(p)
		}
		p.release()
		return nil
	}
}

// corrupt returns a function that reports a corrupt page of the chunk at
// the row *pos / dim.
func (cs *chunkScan) corrupt(pos *int64) func(off int64, format string, args ...any) error {
	return func(off int64, format string, args ...any) error {
		return cs.s.embErr(*pos/int64(cs.s.dim), "row group %d: page at offset %d: %s", cs.c.rowGroup, off, fmt.Sprintf(format, args...))
	}
}

// whole sends out every page of the chunk. It returns false when reading
// should stop: an error was found.
func (cs *chunkScan) whole() bool {
	s, c := cs.s, cs.c
	dim := int64(s.dim)
	base := c.firstRow * dim
	pos := base
	err := scanPages(s.r, c.start, c.end, cs.limits(nil), cs.corrupt(&pos), func(p rawPage) error {
		switch p.header.Type {
		case format.DictionaryPage:
			if err := cs.dictionary(p); err != nil {
				return err
			}
		case format.DataPage, format.DataPageV2:
			cs.send(p, pos)
			pos += int64(entries(p.header))
		default:
			p.release()
		}
		if cs.first.before(pos) {
			return errStop
		}
		return nil
	})
	switch {
	case errors.Is(err, errStop):
		return false
	case err != nil:
		cs.first.set(pos, s.corruptOrIO(pos/dim, c.start, err))
		return false
	}
	if want := (c.firstRow + c.rows) * dim; pos != want {
		cs.first.set(pos, s.countError(c, pos-base))
		return false
	}
	return true
}

var errStop = errors.New("stop")

// countError explains a chunk whose entries are not rows × dimension, when
// every entry read was well formed.
func (s *Shard) countError(c *chunkInfo, got int64) error {
	if err := s.shortLastRow(c.firstRow, c.rows, got); err != nil {
		return err
	}
	return s.embErr(-1, "corrupt: row group %d has %d embedding values for %d rows of dimension %d", c.rowGroup, got, c.rows, s.dim)
}

// shortLastRow returns the error of a run of rows [first, first+rows) that
// holds got well-formed entries where the last row is short, or nil when
// that is not the explanation.
func (s *Shard) shortLastRow(first, rows, got int64) error {
	dim := int64(s.dim)
	if got%dim != 0 && got/dim == rows-1 {
		return s.embErr(first+got/dim, "dimension %d, want %d", got%dim, dim)
	}
	return nil
}

// decodeDictionary decodes a dictionary page into float32s.
func (s *Shard) decodeDictionary(pr *pageReader, c *chunkInfo, p rawPage) ([]float32, error) {
	dh := p.header.DictionaryPageHeader.V
	// PLAIN_DICTIONARY is deprecated for writers, but older ones (parquet-mr 1.x,
	// pyarrow's format 1.0) still write it, and its dictionary pages are plain.
	//lint:ignore SA1019 read for files of older writers
	if dh.Encoding != format.Plain && dh.Encoding != format.PlainDictionary {
		return nil, s.embErr(-1, "dictionary page at offset %d: unsupported encoding %v", p.offset, dh.Encoding)
	}
	n := int(dh.NumValues)
	if n < 0 || n > 1<<28 || int(p.header.UncompressedPageSize) > n*sizeOf(s.elemType)+4096 {
		return nil, s.embErr(-1, "corrupt dictionary page at offset %d: %d values in %d bytes", p.offset, n, p.header.UncompressedPageSize)
	}
	body := p.body
	if body == nil {
		body = make([]byte, p.bodySize)
		if err := readFull(s.r, body, p.bodyOff); err != nil {
			return nil, s.wrapIO(err)
		}
	}
	data, err := pr.decompressAll(c.codec, body, int(p.header.UncompressedPageSize))
	if err != nil {
		return nil, s.corruptOrIO(-1, p.offset, err)
	}
	dict := make([]float32, n)
	if err := s.readPlain(data, dict); err != nil {
		return nil, s.corruptOrIO(-1, p.offset, err)
	}
	return dict, nil
}

// decodePageSafely is decodePage in a page-decoding goroutine, whose panic
// no caller could recover: it becomes an *InputError at the page's start.
func (s *Shard) decodePageSafely(pr *pageReader, j embJob, w *window) (pos int64, err error) {
	defer func() {
		if p := recover(); p != nil {
			pos, err = j.start, s.embErr(-1, "corrupt Parquet: the decoder failed: %v", p)
		}
	}()
	return s.decodePage(pr, j, w)
}

// decodePage decodes the part of one data page that falls in the window into
// its place in w.dst, checking the page's levels and those values. On failure
// it returns the entry index where the fault lies.
func (s *Shard) decodePage(pr *pageReader, j embJob, w *window) (int64, error) {
	defer j.page.release()
	h := j.page.header
	dim := int64(s.dim)
	// A corrupt header must not make us allocate gigabytes: a page holds at
	// most the row group's remaining values (and a row's worth more, to still
	// name an over-long last row), one value and a level byte each.
	room := min(int64(entries(h)), j.limit-j.start+dim)
	if maxSize := room*int64(sizeOf(s.elemType)+1) + 4096; int64(h.UncompressedPageSize) > maxSize {
		return j.start, s.embErr(max(j.start, 0)/dim, "corrupt page at offset %d: %d bytes uncompressed for %d values",
			j.page.offset, h.UncompressedPageSize, entries(h))
	}
	fail := func(err error) (int64, error) {
		return j.start, s.corruptOrIO(max(j.start, 0)/dim, j.page.offset, err)
	}
	var values []byte
	var stream io.Reader
	var n int
	var enc format.Encoding
	var err error
	if j.page.body != nil {
		values, n, enc, err = pr.load(h, j.chunk.codec, j.page.body, s.embedding.maxRep, s.embedding.maxDef)
	} else {
		body := pr.bodyReader(s.r, j.page.bodyOff, j.page.bodySize)
		stream, n, enc, err = pr.open(h, j.chunk.codec, body, j.page.bodySize, s.embedding.maxRep, s.embedding.maxDef)
	}
	if err != nil {
		return fail(err)
	}
	if pos, err := s.checkLevels(pr, j.start, n); err != nil {
		return pos, err
	}
	if j.start+int64(n) > j.limit {
		return j.limit, s.embErr(-1, "corrupt: row group %d has more embedding values than rows × dimension", j.chunk.rowGroup)
	}
	// The entries [a, b) of the page are wanted; the others are not decoded.
	a, b := max(j.start, w.lo), min(j.start+int64(n), w.hi)
	if a >= b {
		return 0, nil
	}
	out := w.dst[a-w.lo : b-w.lo]
	skip := int(a - j.start)
	switch {
	case stream != nil && enc == format.Plain:
		// The common case of a large page: decompress straight into out,
		// and no further than the window needs.
		if _, err := io.CopyN(io.Discard, stream, int64(skip*sizeOf(s.elemType))); err != nil {
			return fail(fmt.Errorf("plain values: %w", err))
		}
		if i, err := pr.readPlainChecked(stream, s.elemType, out); err != nil {
			return fail(err)
		} else if i >= 0 {
			return s.nonFinite(a, out, i)
		}
		return 0, nil
	case stream != nil:
		if pr.scratch, err = readAll(stream, pr.scratch); err != nil {
			return fail(err)
		}
		values = pr.scratch
	}
	if err := s.decodeValues(values, enc, j.dict, n, skip, out); err != nil {
		return fail(err)
	}
	if i := firstNonFinite(out); i >= 0 {
		return s.nonFinite(a, out, i)
	}
	return 0, nil
}

// nonFinite reports out[i], which is not finite; out starts at entry start.
func (s *Shard) nonFinite(start int64, out []float32, i int) (int64, error) {
	g := start + int64(i)
	return g, s.embErr(g/int64(s.dim), "element %d is %v", g%int64(s.dim), out[i])
}

// plainPiece is how many bytes of values are read and checked at once: small
// enough to stay in cache between the two.
const plainPiece = 64 << 10

// readPlainChecked reads len(out) plain values of type t from rd into out,
// a piece at a time, checking each piece for NaN and ±Inf while it is still
// in cache. It returns the index of the first non-finite value, or -1.
func (p *pageReader) readPlainChecked(rd io.Reader, t ElementType, out []float32) (int, error) {
	if t == Float32 && littleEndian {
		return readFloatsChecked(rd, out)
	}
	size := sizeOf(t)
	piece := plainPiece / size
	p.piece = grow(p.piece, plainPiece)
	for lo := 0; lo < len(out); lo += piece {
		o := out[lo:min(lo+piece, len(out))]
		b := p.piece[:size*len(o)]
		if _, err := io.ReadFull(rd, b); err != nil {
			return -1, fmt.Errorf("plain values: %w", err)
		}
		convert(t, b, o, size, 1)
		if i := firstNonFinite(o); i >= 0 {
			return lo + i, nil
		}
	}
	return -1, nil
}

// readFloatsChecked reads len(out) little-endian float32s from rd into out,
// checking each piece for NaN and ±Inf while it is still in cache. It returns
// the index of the first non-finite value, or -1.
func readFloatsChecked(rd io.Reader, out []float32) (int, error) {
	const piece = plainPiece / 4
	for lo := 0; lo < len(out); lo += piece {
		p := out[lo:min(lo+piece, len(out))]
		if _, err := io.ReadFull(rd, unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(p))), 4*len(p))); err != nil {
			return -1, fmt.Errorf("plain values: %w", err)
		}
		if i := firstNonFinite(p); i >= 0 {
			return lo + i, nil
		}
	}
	return -1, nil
}

// checkLevels checks the levels of a page whose first entry is entry start of
// the shard: every entry is a present value, and a row starts exactly at every
// multiple of the dimension. It returns the index of the first faulty entry.
func (s *Shard) checkLevels(pr *pageReader, start int64, n int) (int64, error) {
	dim := int64(s.dim)
	repPos, repVal, err := checkReps(pr.rep, n, start, dim)
	if err != nil {
		return start, s.embErr(start/dim, "corrupt repetition levels: %v", err)
	}
	defPos, defVal, err := checkDefs(pr.def, bitWidth(s.embedding.maxDef), n, uint32(s.embedding.maxDef))
	if err != nil {
		return start, s.embErr(start/dim, "corrupt definition levels: %v", err)
	}
	switch {
	case defPos >= 0 && (repPos < 0 || defPos <= repPos):
		g := start + int64(defPos)
		if int(defVal) < s.embedding.listDef {
			return g, s.embErr(g/dim, "%s embedding", nullOrEmpty(int(defVal), s.embedding.listDef))
		}
		return g, s.embErr(g/dim, "element %d is null", g%dim)
	case repPos >= 0:
		g := start + int64(repPos)
		if repVal == 0 { // a row starts early: the row before is short
			return g, s.embErr(g/dim, "dimension %d, want %d", g%dim, dim)
		}
		return g, s.embErr(g/dim-1, "dimension above %d, want %d", dim, dim)
	}
	return 0, nil
}

// levelsErr explains running out of levels.
func levelsErr(err error, seen, n int) error {
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("%d levels, want %d", seen, n)
	}
	return err
}

// checkReps checks n repetition levels (0 or 1, one bit each) of entries
// starting at entry start: a level is 0 exactly where a row starts, at every
// multiple of dim. It returns the offset of the first level that breaks the
// pattern and its value, or -1. Bit-packed runs are checked a byte (8 levels)
// at a time against the byte the pattern predicts.
func checkReps(data []byte, n int, start, dim int64) (int, uint32, error) {
	var h hybrid
	h.reset(data, 1)
	col := start % dim // the position within its row of the next entry
	for seen := 0; seen < n; {
		v, k, packed, err := h.nextRun()
		if err != nil {
			return 0, 0, levelsErr(err, seen, n)
		}
		k = min(k, n-seen)
		if packed == nil {
			if i := badRep(v, col, k, dim); i >= 0 {
				return seen + i, v, nil
			}
		} else {
			i := 0
			if dim >= 8 { // at most one row start per byte
				for ; i+8 <= k; i += 8 {
					want := byte(0xff)
					if next := (dim - col) % dim; next < 8 {
						want &^= 1 << next
					}
					if packed[i/8] != want {
						break // find the level bit by bit below
					}
					if col += 8; col >= dim {
						col -= dim
					}
				}
			}
			for ; i < k; i++ {
				v := uint32(packed[i/8]>>(i%8)) & 1
				if (v == 0) != (col == 0) {
					return seen + i, v, nil
				}
				if col++; col == dim {
					col = 0
				}
			}
			seen += k
			continue
		}
		col = (col + int64(k)) % dim
		seen += k
	}
	return -1, 0, nil
}

// badRep returns the offset within a run of k repetition levels v, the first
// at position col of its row, of the first level that breaks the
// rows-of-dim pattern, or -1.
func badRep(v uint32, col int64, k int, dim int64) int {
	if v == 0 {
		if col != 0 {
			return 0
		}
		if dim > 1 && k > 1 {
			return 1
		}
		return -1
	}
	if col == 0 {
		return 0
	}
	if toNext := dim - col; toNext < int64(k) { // a row must start inside the run
		return int(toNext)
	}
	return -1
}

// checkDefs checks that the first n definition levels all equal want. It
// returns the offset of the first that does not and its value, or -1.
func checkDefs(data []byte, width uint, n int, want uint32) (int, uint32, error) {
	var h hybrid
	h.reset(data, width)
	var buf [1024]uint32
	for seen := 0; seen < n; {
		v, k, lits, err := h.next(buf[:])
		if err != nil {
			return 0, 0, levelsErr(err, seen, n)
		}
		k = min(k, n-seen)
		if lits == nil && v != want {
			return seen, v, nil
		}
		for i, v := range lits[:min(k, len(lits))] {
			if v != want {
				return seen + i, v, nil
			}
		}
		seen += k
	}
	return -1, 0, nil
}

// decodeValues decodes values skip to skip+len(out) of a page of n values
// of the given encoding into out.
func (s *Shard) decodeValues(values []byte, enc format.Encoding, dict []float32, n, skip int, out []float32) error {
	if skip+len(out) > n {
		return fmt.Errorf("values %d to %d of a page of %d", skip, skip+len(out), n)
	}
	switch enc {
	case format.Plain:
		size := sizeOf(s.elemType)
		if len(values) < size*(skip+len(out)) {
			return fmt.Errorf("%d bytes of plain values, want %d", len(values), size*(skip+len(out)))
		}
		return s.readPlain(values[size*skip:], out)
	//lint:ignore SA1019 older writers' data pages name the dictionary so
	case format.PlainDictionary, format.RLEDictionary:
		if dict == nil {
			return fmt.Errorf("dictionary-encoded page without a dictionary page")
		}
		return readDictionary(values, dict, skip, out)
	case format.ByteStreamSplit:
		return s.readByteStreamSplit(values, n, skip, out)
	}
	return fmt.Errorf("unsupported encoding %v for %v values", enc, s.elemType)
}

// sizeOf returns the stored size of one value of type t.
func sizeOf(t ElementType) int {
	switch t {
	case Float64:
		return 8
	case Float16:
		return 2
	}
	return 4
}

// readPlain decodes len(out) plain-encoded values of the shard's element type.
func (s *Shard) readPlain(values []byte, out []float32) error {
	size := sizeOf(s.elemType)
	if len(values) < size*len(out) {
		return fmt.Errorf("%d bytes of plain values, want %d", len(values), size*len(out))
	}
	switch s.elemType {
	case Float32:
		if littleEndian {
			// The file's little-endian floats are the machine's floats.
			copy(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(out))), 4*len(out)), values)
			return nil
		}
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(values[4*i:]))
		}
	default:
		convert(s.elemType, values, out, size, 1)
	}
	return nil
}

// convert converts little-endian float32, float64 or float16 values to float32. Byte
// j of value i is b[i*step+j*stride]: step is the value size and stride 1 for
// plain values; step 1 and stride the value count for byte-stream-split.
func convert(t ElementType, b []byte, out []float32, step, stride int) {
	switch t {
	case Float32:
		for i := range out {
			var v uint32
			for j := range 4 {
				v |= uint32(b[i*step+j*stride]) << (8 * j)
			}
			out[i] = math.Float32frombits(v)
		}
	case Float64:
		for i := range out {
			var v uint64
			for j := range 8 {
				v |= uint64(b[i*step+j*stride]) << (8 * j)
			}
			out[i] = float32(math.Float64frombits(v))
		}
	case Float16:
		for i := range out {
			out[i] = halfToFloat(uint16(b[i*step]) | uint16(b[i*step+stride])<<8)
		}
	}
}

// littleEndian is true on machines that store numbers little-endian, as Parquet does.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// halfToFloat widens an IEEE 754 half-precision value exactly.
func halfToFloat(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	frac := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // Inf or NaN
		return math.Float32frombits(sign | 0x7f800000 | frac<<13)
	case exp == 0 && frac == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal: frac × 2^-24
		f := float32(frac) / (1 << 24)
		if sign != 0 {
			f = -f
		}
		return f
	}
	return math.Float32frombits(sign | (exp+112)<<23 | frac<<13)
}

// readDictionary decodes RLE/bit-packed dictionary indexes into out, after
// passing over the first skip of them.
func readDictionary(data []byte, dict []float32, skip int, out []float32) error {
	if len(data) == 0 {
		return fmt.Errorf("dictionary indexes: empty")
	}
	var h hybrid
	h.reset(data[1:], uint(data[0]))
	var buf [1024]uint32
	// i is the index in out of the run's first value: negative while skipping.
	for i := -skip; i < len(out); {
		v, k, lits, err := h.next(buf[:])
		if err != nil {
			return fmt.Errorf("dictionary indexes: %w", err)
		}
		k = min(k, len(out)-i)
		if lits == nil {
			if i+k > 0 {
				if int(v) >= len(dict) {
					return fmt.Errorf("dictionary index %d of %d", v, len(dict))
				}
				f := dict[v]
				for j := range out[max(i, 0) : i+k] {
					out[max(i, 0)+j] = f
				}
			}
		} else {
			for j, v := range lits[:k] {
				if i+j < 0 {
					continue
				}
				if int(v) >= len(dict) {
					return fmt.Errorf("dictionary index %d of %d", v, len(dict))
				}
				out[i+j] = dict[v]
			}
		}
		i += k
	}
	return nil
}

// readByteStreamSplit decodes values skip to skip+len(out) of a page of n
// BYTE_STREAM_SPLIT values: byte k of every value is stored in stream k.
func (s *Shard) readByteStreamSplit(data []byte, n, skip int, out []float32) error {
	size := sizeOf(s.elemType)
	if len(data) < size*n {
		return fmt.Errorf("%d bytes of byte-stream-split values, want %d", len(data), size*n)
	}
	if s.elemType == Float32 {
		for i := range out {
			k := skip + i
			out[i] = math.Float32frombits(uint32(data[k]) | uint32(data[n+k])<<8 | uint32(data[2*n+k])<<16 | uint32(data[3*n+k])<<24)
		}
		return nil
	}
	convert(s.elemType, data[skip:], out, 1, n)
	return nil
}

// firstNonFinite returns the index of the first NaN or ±Inf in v, or -1.
func firstNonFinite(v []float32) int {
	for i, f := range v {
		if math.Float32bits(f)&0x7f800000 == 0x7f800000 {
			return i
		}
	}
	return -1
}
