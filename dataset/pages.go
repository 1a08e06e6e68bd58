package dataset

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/zstd"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
)

// This file reads the pages of a column chunk without parquet-go's page API.
// That API decodes a page inside ReadPage, one page after another, so a shard
// written as one row group of three 100 MB pages (DuckDB's layout) decodes on
// one core; here the reader only splits the chunk into pages and the pages are
// decompressed and decoded in parallel, straight into the caller's slice.

const (
	// segmentSize is how much of a column chunk one ReadAt fetches: large
	// enough for object stores, small enough to bound what is held at once.
	segmentSize = 16 << 20
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
// (compressed) body.
type rawPage struct {
	header *format.PageHeader
	body   []byte
	offset int64 // of the header in the file, for messages
}

// ioError marks an error of the underlying reader, which is never an InputError.
type ioError struct{ err error }

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
		return &ioError{fmt.Errorf("read %d bytes at offset %d: got %d: %w", len(p), off, n, io.ErrUnexpectedEOF)}
	}
	return &ioError{fmt.Errorf("read %d bytes at offset %d: %w", len(p), off, err)}
}

// scanChunk reads the column chunk [start, end) in segments and calls emit for
// each page in order. A page body is a sub-slice of a segment that is never
// reused, so emit may keep it.
func scanChunk(r io.ReaderAt, start, end int64, corrupt func(off int64, format string, args ...any) error, emit func(rawPage) error) error {
	var seg []byte
	var segOff int64 // seg holds the file bytes [segOff, segOff+len(seg))
	pos := start
	want := int64(segmentSize)
	for pos < end {
		if pos < segOff || pos >= segOff+int64(len(seg)) {
			seg, segOff = nil, pos
		}
		avail := seg[pos-segOff:]
		h := new(format.PageHeader)
		n, err := decodeHeader(avail, h)
		if err == nil && pos+int64(n)+int64(h.CompressedPageSize) > end {
			return corrupt(pos, "page of %d bytes runs past the end of its column chunk", h.CompressedPageSize)
		}
		if err != nil || pos+int64(n)+int64(h.CompressedPageSize) > segOff+int64(len(seg)) {
			// The header or the body is not all in the segment: read on from pos.
			if err != nil && (segOff+int64(len(seg)) >= end || len(avail) >= maxHeaderSize) {
				return corrupt(pos, "corrupt page header: %v", err)
			}
			size := want
			if err == nil {
				size = max(size, int64(n)+int64(h.CompressedPageSize))
			} else {
				size = max(size, 2*int64(len(avail)))
			}
			size = min(size, end-pos)
			seg, segOff = make([]byte, size), pos
			if err := readFull(r, seg, pos); err != nil {
				return err
			}
			continue
		}
		body := avail[n : n+int(h.CompressedPageSize)]
		if err := emit(rawPage{header: h, body: body, offset: pos}); err != nil {
			return err
		}
		pos += int64(n) + int64(h.CompressedPageSize)
	}
	return nil
}

// pageReader turns page bodies into levels and a reader of the encoded values.
// It is not safe for concurrent use; each goroutine has its own.
type pageReader struct {
	zr      *zstd.Decoder
	scratch []byte // a whole decompressed page, for codecs without a stream reader
	rep     []byte
	def     []byte
	br      bytes.Reader
}

var pageReaders = sync.Pool{New: func() any { return new(pageReader) }}

// zstdReader returns the reader's zstd decoder reset to src.
func (p *pageReader) zstdReader(src io.Reader) (io.Reader, error) {
	if p.zr == nil {
		// One goroutine per decoder: the parallelism is across pages.
		zr, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(false))
		if err != nil {
			return nil, err
		}
		p.zr = zr
	}
	if err := p.zr.Reset(src); err != nil {
		return nil, err
	}
	return p.zr, nil
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
	out, err := c.Decode(p.scratch[:0], comp)
	if err != nil {
		return nil, fmt.Errorf("decompress %v page: %w", codec, err)
	}
	p.scratch = out
	p.br.Reset(out)
	return &p.br, nil
}

// open reads the levels of a data page whose body is read from body (size
// bytes) and returns a reader positioned at its encoded values. It handles
// data pages of format 1 (levels compressed with the values, each prefixed by
// its length) and 2 (levels uncompressed, before the compressed values).
// Levels are left in p.rep and p.def.
func (p *pageReader) open(h *format.PageHeader, codec format.CompressionCodec, body io.Reader, size int, maxRep, maxDef int) (values io.Reader, numValues int, enc format.Encoding, err error) {
	switch h.Type {
	case format.DataPage:
		dh := &h.DataPageHeader.V
		numValues, enc = int(dh.NumValues), dh.Encoding
		if maxRep > 0 && dh.RepetitionLevelEncoding != format.RLE || maxDef > 0 && dh.DefinitionLevelEncoding != format.RLE {
			return nil, 0, 0, fmt.Errorf("unsupported level encoding %v/%v", dh.RepetitionLevelEncoding, dh.DefinitionLevelEncoding)
		}
		rd, err := p.decompress(codec, body, size, h.UncompressedPageSize)
		if err != nil {
			return nil, 0, 0, err
		}
		if p.rep, err = readLevels(rd, p.rep, maxRep); err != nil {
			return nil, 0, 0, fmt.Errorf("repetition levels: %w", err)
		}
		if p.def, err = readLevels(rd, p.def, maxDef); err != nil {
			return nil, 0, 0, fmt.Errorf("definition levels: %w", err)
		}
		return rd, numValues, enc, nil
	case format.DataPageV2:
		dh := &h.DataPageHeaderV2.V
		numValues, enc = int(dh.NumValues), dh.Encoding
		rl, dl := int(dh.RepetitionLevelsByteLength), int(dh.DefinitionLevelsByteLength)
		if rl < 0 || dl < 0 || rl+dl > size {
			return nil, 0, 0, fmt.Errorf("level lengths %d+%d exceed the page size %d", rl, dl, size)
		}
		p.rep, p.def = grow(p.rep, rl), grow(p.def, dl)
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

// streamBody returns a buffered reader of a page body in the file, for reading
// only its start (the levels) without fetching the whole page.
func streamBody(r io.ReaderAt, off int64, size int) io.Reader {
	return bufio.NewReaderSize(io.NewSectionReader(r, off, int64(size)), 64<<10)
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
