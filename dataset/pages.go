package dataset

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"weak"

	"github.com/klauspost/compress/zstd"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"

	"github.com/hardneg/hardneg/internal/hugepages"
)

// This file reads the pages of a column chunk without parquet-go's page API.
// That API decodes a page inside ReadPage, one page after another, so a shard
// written as one row group of three 100 MB pages (DuckDB's layout) decodes on
// one core; here the reader only splits the chunk into pages and the pages are
// decompressed and decoded in parallel, straight into the caller's slice.

// segmentSize is how much of a column chunk one ReadAt fetches: large enough
// for object stores, small enough to bound what is held at once. Pages larger
// than half of it are streamed. A variable so tests can force streaming.
var segmentSize = 8 << 20

const (
	// maxHeaderSize bounds a page header (statistics may make it large).
	maxHeaderSize = 16 << 20
)

// decodeHeader decodes the page header at the start of b and returns its length.
func decodeHeader(b []byte, h *format.PageHeader) (int, error) {
	var compact thrift.CompactProtocol
	rd := compact.NewReaderFromBytes(b)
	if err := thrift.NewDecoder(rd).Decode(h); err != nil {
		return 0, err
	}
	if h.CompressedPageSize < 0 || h.UncompressedPageSize < 0 {
		return 0, fmt.Errorf("negative page size")
	}
	return rd.BytesRead(), nil
}

// rawPage is one page of a column chunk as stored: its header and its
// (compressed) body. A page that fits in a segment comes with its body in
// memory; a larger one is streamed from the file by whoever decodes it, so
// that a 100 MB page is never held whole.
type rawPage struct {
	header   *format.PageHeader
	offset   int64    // of the header in the file, for messages
	body     []byte   // the body, or nil to stream it
	seg      *segment // holds body; release it when done
	bodyOff  int64    // the body's offset in the file
	bodySize int
}

// release lets go of the page's segment, if any.
func (p *rawPage) release() {
	if p.seg != nil {
		p.seg.release()
		p.seg = nil
	}
}

// segment is a buffer of file bytes shared by the pages it holds and
// recycled when the last of them is done: touching fresh memory costs more
// than decoding it on some machines, so buffers are reused.
type segment struct {
	buf  []byte
	refs atomic.Int32
	slot chan struct{} // the bound on segments in use it counts against, if any
}

// freeSegments holds the segments of segmentSize released by their last
// page, for any goroutine to reuse. A sync.Pool would keep a released segment
// in the releasing P's private slot, out of the reach of the scanner on
// another P, so a read on many cores would allocate many. Weak pointers let
// the garbage collector take idle segments back, as it would from a pool.
var freeSegments struct {
	mu   sync.Mutex
	list []weak.Pointer[segment]
}

// maxFreeSegments bounds the list of free segments.
const maxFreeSegments = 16

// takeSegment returns a free segment, or nil.
func takeSegment() *segment {
	freeSegments.mu.Lock()
	defer freeSegments.mu.Unlock()
	for n := len(freeSegments.list); n > 0; n-- {
		w := freeSegments.list[n-1]
		freeSegments.list = freeSegments.list[:n-1]
		if s := w.Value(); s != nil {
			return s
		}
	}
	return nil
}

// putSegment lets a segment be reused.
func putSegment(s *segment) {
	freeSegments.mu.Lock()
	defer freeSegments.mu.Unlock()
	if len(freeSegments.list) == maxFreeSegments {
		freeSegments.list = append(freeSegments.list[:0], freeSegments.list[1:]...)
	}
	freeSegments.list = append(freeSegments.list, weak.Make(s))
}

// getSegment returns a segment of n bytes with one reference. With slots, it
// first waits for room there, and gives it back when the segment is released.
func getSegment(n int, slots chan struct{}) *segment {
	if slots != nil {
		slots <- struct{}{}
	}
	var s *segment
	if n <= segmentSize {
		if s = takeSegment(); s == nil {
			s = new(segment)
		}
		if cap(s.buf) != segmentSize { // new, or from before segmentSize changed
			s.buf = hugepages.Make[byte](segmentSize)
		}
		s.buf = s.buf[:n]
	} else {
		s = &segment{buf: hugepages.Make[byte](n)}
	}
	s.refs.Store(1)
	s.slot = slots
	return s
}

func (s *segment) retain() { s.refs.Add(1) }

func (s *segment) release() {
	if s.refs.Add(-1) != 0 {
		return
	}
	if s.slot != nil {
		<-s.slot
		s.slot = nil
	}
	if cap(s.buf) == segmentSize {
		putSegment(s)
	}
}

// ioError marks an error of the underlying reader, which is never an InputError,
// or, when short is set, a read that ran out of file. Only short tells a
// truncated file: a store's own failure may wrap io.ErrUnexpectedEOF too (an
// HTTP body cut short), and is worth retrying.
type ioError struct {
	err   error
	short bool
}

func (e *ioError) Error() string { return e.err.Error() }
func (e *ioError) Unwrap() error { return e.err }

// readFull reads len(p) bytes at off. Running out of file is reported by the
// caller as bad input; any other failure is an *ioError.
func readFull(r io.ReaderAt, p []byte, off int64) error {
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		return &ioError{err: fmt.Errorf("read %d bytes at offset %d: got %d: %w", len(p), off, n, io.ErrUnexpectedEOF), short: true}
	}
	return &ioError{err: fmt.Errorf("read %d bytes at offset %d: %w", len(p), off, err)}
}

// scanLimits bounds how scanPages reads.
type scanLimits struct {
	// read, when not nil, is the bytes read into a segment (at most
	// segmentSize); emit may change it between pages. Small segments serve
	// to walk the page headers of a chunk without reading the pages: a page
	// larger than half a segment is emitted without its body.
	read *int
	// slots, when not nil, bounds the segments in use (read and not yet
	// released by every page they hold): scanPages waits for room there.
	slots chan struct{}
}

// scanPages reads the column chunk [start, end) within lim and calls emit
// for each page in order. Pages are read in segments; a page too large for
// one is emitted without its body, to be streamed. emit owns the page and
// must release it.
func scanPages(r io.ReaderAt, start, end int64, lim scanLimits, corrupt func(off int64, format string, args ...any) error, emit func(rawPage) error) error {
	segSize := func() int64 {
		if lim.read == nil {
			return int64(segmentSize)
		}
		return int64(min(max(*lim.read, 64), segmentSize))
	}
	var seg *segment
	var segOff int64 // seg holds the file bytes [segOff, segOff+len(seg.buf))
	defer func() {
		if seg != nil {
			seg.release()
		}
	}()
	load := func(pos, size int64) error {
		if seg != nil {
			seg.release()
		}
		seg, segOff = getSegment(int(min(size, end-pos)), lim.slots), pos
		return readFull(r, seg.buf, pos)
	}
	pos := start
	window := segSize()
	for pos < end {
		if seg == nil || pos >= segOff+int64(len(seg.buf)) {
			if err := load(pos, window); err != nil {
				return err
			}
		}
		avail := seg.buf[pos-segOff:]
		h := new(format.PageHeader)
		n, err := decodeHeader(avail, h)
		if err != nil {
			// The header may run past the segment: read on from pos, more each time.
			if segOff+int64(len(seg.buf)) >= end || len(avail) >= maxHeaderSize {
				return corrupt(pos, "corrupt page header: %v", err)
			}
			if err := load(pos, max(segSize(), 2*int64(len(avail)))); err != nil {
				return err
			}
			continue
		}
		bodyOff, size := pos+int64(n), int64(h.CompressedPageSize)
		if bodyOff+size > end {
			return corrupt(pos, "page of %d bytes runs past the end of its column chunk", size)
		}
		page := rawPage{header: h, offset: pos, bodyOff: bodyOff, bodySize: int(size)}
		window = segSize()
		switch {
		case bodyOff+size <= segOff+int64(len(seg.buf)):
			seg.retain()
			page.seg, page.body = seg, avail[n:n+int(size)]
		case int64(n)+size <= window/2:
			// A small page cut by the segment's end: read on from its header
			// (it fits in a fresh segment, so this happens once per page).
			if err := load(pos, window); err != nil {
				return err
			}
			continue
		default:
			// A large page: streamed by its decoder. Its successor's header
			// is likely followed by another large page, so read little there.
			window = min(window, 64<<10)
		}
		if err := emit(page); err != nil {
			return err
		}
		pos = bodyOff + size
	}
	return nil
}

// pageReader turns page bodies into levels and a reader of the encoded values.
// It is not safe for concurrent use; each goroutine has its own.
type pageReader struct {
	zr      *zstd.Decoder // for DecodeAll
	zs      *zstd.Decoder // for streams (a stream holds its decoder's only block decoder)
	scratch []byte        // a whole decompressed page
	piece   []byte        // plain values being converted, a piece at a time
	bio     *bufio.Reader
	rep     []byte // the levels of the current page: views of the page or of repBuf and defBuf
	def     []byte
	repBuf  []byte // owned, for levels read from a stream
	defBuf  []byte
	br      bytes.Reader
}

var pageReaders = sync.Pool{New: func() any { return new(pageReader) }}

// zstdReader returns the reader's zstd stream decoder reset to src.
func (p *pageReader) zstdReader(src io.Reader) (io.Reader, error) {
	if p.zs == nil {
		// One goroutine per decoder: the parallelism is across pages.
		zs, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(false))
		if err != nil {
			return nil, err
		}
		p.zs = zs
	}
	if err := p.zs.Reset(src); err != nil {
		return nil, err
	}
	return p.zs, nil
}

// decompress returns a reader of the uncompressed form of src, compressed with codec.
// zstd and uncompressed data stream; other codecs are decoded whole.
func (p *pageReader) decompress(codec format.CompressionCodec, src io.Reader, size int, uncompressed int32) (io.Reader, error) {
	switch codec {
	case format.Uncompressed:
		return src, nil
	case format.Zstd:
		return p.zstdReader(src)
	}
	c := parquet.LookupCompressionCodec(codec)
	if c.String() == "UNSUPPORTED" {
		return nil, fmt.Errorf("unsupported compression codec %v", codec)
	}
	comp := make([]byte, size)
	if _, err := io.ReadFull(src, comp); err != nil {
		return nil, err
	}
	out, err := c.Decode(grow(p.scratch, int(max(uncompressed, 0)))[:0], comp)
	if err != nil {
		return nil, fmt.Errorf("decompress %v page: %w", codec, err)
	}
	p.scratch = out
	p.br.Reset(out)
	return &p.br, nil
}

// decompressAll returns the uncompressed form of a whole page body, in p.scratch.
func (p *pageReader) decompressAll(codec format.CompressionCodec, body []byte, uncompressed int) ([]byte, error) {
	if uncompressed < 0 || uncompressed > 1<<31 {
		return nil, fmt.Errorf("page of %d bytes", uncompressed)
	}
	var out []byte
	var err error
	switch codec {
	case format.Uncompressed:
		return body, nil
	case format.Zstd:
		// DecodeAll reads the body in place and writes straight into the
		// scratch page: one copy fewer each way than the stream reader.
		if p.zr == nil {
			if p.zr, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(false)); err != nil {
				return nil, err
			}
		}
		out, err = p.zr.DecodeAll(body, grow(p.scratch, uncompressed)[:0])
	default:
		c := parquet.LookupCompressionCodec(codec)
		if c.String() == "UNSUPPORTED" {
			return nil, fmt.Errorf("unsupported compression codec %v", codec)
		}
		out, err = c.Decode(grow(p.scratch, uncompressed)[:0], body)
	}
	if err != nil {
		return nil, fmt.Errorf("decompress %v page: %w", codec, err)
	}
	p.scratch = out
	if len(out) != uncompressed {
		return nil, fmt.Errorf("page decompresses to %d bytes, header says %d", len(out), uncompressed)
	}
	return out, nil
}

// v1Header returns a version 1 data page's value count and encoding; its
// levels must be RLE where there are any.
func v1Header(h *format.PageHeader, maxRep, maxDef int) (int, format.Encoding, error) {
	dh := &h.DataPageHeader.V
	if maxRep > 0 && dh.RepetitionLevelEncoding != format.RLE || maxDef > 0 && dh.DefinitionLevelEncoding != format.RLE {
		return 0, 0, fmt.Errorf("unsupported level encoding %v/%v", dh.RepetitionLevelEncoding, dh.DefinitionLevelEncoding)
	}
	return int(dh.NumValues), dh.Encoding, nil
}

// v2Levels returns the byte lengths of a version 2 data page's repetition
// and definition levels, which must fit in its size bytes.
func v2Levels(dh *format.DataPageHeaderV2, size int) (rl, dl int, err error) {
	rl, dl = int(dh.RepetitionLevelsByteLength), int(dh.DefinitionLevelsByteLength)
	if rl < 0 || dl < 0 || rl+dl > size {
		return 0, 0, fmt.Errorf("level lengths %d+%d exceed the page size %d", rl, dl, size)
	}
	return rl, dl, nil
}

// load decodes the levels of a data page held in memory and returns its
// encoded values. Levels are left in p.rep and p.def; they and the values may
// point into body or into p.scratch, valid until the next call.
func (p *pageReader) load(h *format.PageHeader, codec format.CompressionCodec, body []byte, maxRep, maxDef int) (values []byte, numValues int, enc format.Encoding, err error) {
	switch h.Type {
	case format.DataPage:
		if numValues, enc, err = v1Header(h, maxRep, maxDef); err != nil {
			return nil, 0, 0, err
		}
		data, err := p.decompressAll(codec, body, int(h.UncompressedPageSize))
		if err != nil {
			return nil, 0, 0, err
		}
		if p.rep, data, err = cutLevels(data, maxRep); err != nil {
			return nil, 0, 0, fmt.Errorf("repetition levels: %w", err)
		}
		if p.def, data, err = cutLevels(data, maxDef); err != nil {
			return nil, 0, 0, fmt.Errorf("definition levels: %w", err)
		}
		return data, numValues, enc, nil
	case format.DataPageV2:
		dh := &h.DataPageHeaderV2.V
		numValues, enc = int(dh.NumValues), dh.Encoding
		rl, dl, err := v2Levels(dh, len(body))
		if err != nil {
			return nil, 0, 0, err
		}
		p.rep, p.def = body[:rl], body[rl:rl+dl]
		if compressed, ok := dh.IsCompressed.Get(); ok && !compressed {
			codec = format.Uncompressed
		}
		values, err := p.decompressAll(codec, body[rl+dl:], int(h.UncompressedPageSize)-rl-dl)
		return values, numValues, enc, err
	}
	return nil, 0, 0, fmt.Errorf("not a data page: %v", h.Type)
}

// cutLevels splits a format-1 level section (a 4-byte length and that many
// bytes) off the front of data.
func cutLevels(data []byte, maxLevel int) (levels, rest []byte, err error) {
	if maxLevel == 0 {
		return nil, data, nil
	}
	if len(data) < 4 {
		return nil, nil, io.ErrUnexpectedEOF
	}
	size := binary.LittleEndian.Uint32(data)
	if uint64(size) > uint64(len(data)-4) {
		return nil, nil, fmt.Errorf("level section of %d bytes in %d", size, len(data)-4)
	}
	return data[4 : 4+size], data[4+size:], nil
}

// open reads the levels of a data page whose body is read from body (size
// bytes) and returns a reader positioned at its encoded values. It handles
// data pages of format 1 (levels compressed with the values, each prefixed by
// its length) and 2 (levels uncompressed, before the compressed values).
// Levels are left in p.rep and p.def.
func (p *pageReader) open(h *format.PageHeader, codec format.CompressionCodec, body io.Reader, size int, maxRep, maxDef int) (values io.Reader, numValues int, enc format.Encoding, err error) {
	switch h.Type {
	case format.DataPage:
		if numValues, enc, err = v1Header(h, maxRep, maxDef); err != nil {
			return nil, 0, 0, err
		}
		rd, err := p.decompress(codec, body, size, h.UncompressedPageSize)
		if err != nil {
			return nil, 0, 0, err
		}
		if p.repBuf, err = readLevels(rd, p.repBuf, maxRep); err != nil {
			return nil, 0, 0, fmt.Errorf("repetition levels: %w", err)
		}
		if p.defBuf, err = readLevels(rd, p.defBuf, maxDef); err != nil {
			return nil, 0, 0, fmt.Errorf("definition levels: %w", err)
		}
		p.rep, p.def = p.repBuf, p.defBuf
		return rd, numValues, enc, nil
	case format.DataPageV2:
		dh := &h.DataPageHeaderV2.V
		numValues, enc = int(dh.NumValues), dh.Encoding
		rl, dl, err := v2Levels(dh, size)
		if err != nil {
			return nil, 0, 0, err
		}
		p.repBuf, p.defBuf = grow(p.repBuf, rl), grow(p.defBuf, dl)
		p.rep, p.def = p.repBuf, p.defBuf
		if _, err := io.ReadFull(body, p.rep); err != nil {
			return nil, 0, 0, err
		}
		if _, err := io.ReadFull(body, p.def); err != nil {
			return nil, 0, 0, err
		}
		if compressed, ok := dh.IsCompressed.Get(); ok && !compressed {
			codec = format.Uncompressed
		}
		rd, err := p.decompress(codec, body, size-rl-dl, h.UncompressedPageSize-int32(rl+dl))
		return rd, numValues, enc, err
	}
	return nil, 0, 0, fmt.Errorf("not a data page: %v", h.Type)
}

// readLevels reads a format-1 level section: a 4-byte length and that many bytes.
func readLevels(rd io.Reader, buf []byte, maxLevel int) ([]byte, error) {
	if maxLevel == 0 {
		return buf[:0], nil
	}
	var n [4]byte
	if _, err := io.ReadFull(rd, n[:]); err != nil {
		return nil, err
	}
	size := binary.LittleEndian.Uint32(n[:])
	if size > 1<<30 {
		return nil, fmt.Errorf("level section of %d bytes", size)
	}
	buf = grow(buf, int(size))
	if _, err := io.ReadFull(rd, buf); err != nil {
		return nil, err
	}
	return buf, nil
}

// grow returns b resized to n, reusing its memory when it is large enough.
func grow[T any](b []T, n int) []T {
	if cap(b) >= n {
		return b[:n]
	}
	return make([]T, n)
}

// bodyReader returns a buffered reader of a page body in the file, reusing
// the pageReader's buffer. Errors of r come out as *ioError.
func (p *pageReader) bodyReader(r io.ReaderAt, off int64, size int) io.Reader {
	if p.bio == nil {
		p.bio = bufio.NewReaderSize(nil, streamBufferSize)
	}
	p.bio.Reset(io.NewSectionReader(ioReaderAt{r}, off, int64(size)))
	return p.bio
}

// streamBufferSize is how much of a streamed page one ReadAt fetches.
const streamBufferSize = 4 << 20

// ioReaderAt marks the errors of r, other than running out of file, as *ioError.
type ioReaderAt struct{ r io.ReaderAt }

func (r ioReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := r.r.ReadAt(p, off)
	if err != nil && !errors.Is(err, io.EOF) {
		err = &ioError{err: err}
	}
	return n, err
}

// readAll reads r to its end into buf's memory.
func readAll(r io.Reader, buf []byte) ([]byte, error) {
	buf = buf[:0]
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// streamBody returns a buffered reader of a page body in the file, for reading
// only its start (the levels) without fetching the whole page.
func streamBody(r io.ReaderAt, off int64, size int) io.Reader {
	return bufio.NewReaderSize(io.NewSectionReader(ioReaderAt{r}, off, int64(size)), 64<<10)
}

// bitWidth returns the number of bits that hold levels up to max.
func bitWidth(max int) uint {
	w := uint(0)
	for max > 0 {
		w++
		max >>= 1
	}
	return w
}
