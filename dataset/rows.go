package dataset

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"sort"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

// This file finds the pages of an embedding column chunk that hold a range
// of rows, so that reading one query block of a large shard reads little
// more than that block. The offset index (Parquet's page index), when the
// writer left one, gives each page's first row and place in the file. Without
// it the pages are found by walking their headers: a version 2 page says how
// many rows it holds; the rows of a version 1 page are counted from its
// repetition levels, which come first in the page, so only the start of a
// zstd or uncompressed page is decompressed for it.

// usePageIndex is turned off by tests, to read files that have an offset
// index as if they had none.
var usePageIndex = true

// walkRead is how much is read at once while walking page headers.
const walkRead = 64 << 10

// errDone ends a page scan that has sent every page the range needs.
var errDone = errors.New("done")

// errBadIndex ends an indexed scan whose offset index does not match the
// pages; the pages are then found from their headers.
var errBadIndex = errors.New("offset index does not match the pages")

// part sends out the pages of the chunk that hold rows of [lo, hi), a range
// that covers only part of the chunk. It returns false when reading should
// stop: an error was found.
func (cs *chunkScan) part(lo, hi int64) bool {
	if usePageIndex {
		oi, err := cs.offsetIndex()
		if err != nil {
			cs.first.set(max(lo, cs.c.firstRow)*int64(cs.s.dim), err)
			return false
		}
		if oi != nil {
			if ok, done := cs.indexed(lo, hi, oi); done {
				return ok
			}
		}
	}
	return cs.scan(lo, hi)
}

// offsetIndex returns the chunk's offset index, or nil when it has none or
// it cannot be decoded (the page headers serve as well). Only a failure of
// the reader is an error.
func (cs *chunkScan) offsetIndex() (parquet.OffsetIndex, error) {
	rg := cs.s.file.RowGroups()[cs.c.rowGroup]
	fc, ok := rg.ColumnChunks()[cs.s.embedding.index].(*parquet.FileColumnChunk)
	if !ok {
		return nil, nil
	}
	oi, err := fc.OffsetIndex()
	if err != nil {
		if ioErr := cs.s.cr.failed(); ioErr != nil {
			return nil, fmt.Errorf("read offset index of %s: %w", cs.s.name, ioErr)
		}
		return nil, nil
	}
	if !validIndex(oi, cs.c) {
		return nil, nil
	}
	return oi, nil
}

// validIndex reports whether an offset index describes pages that lie in
// order inside the chunk, with first rows that start at 0 and grow.
func validIndex(oi parquet.OffsetIndex, c *chunkInfo) bool {
	n := oi.NumPages()
	if n == 0 || oi.FirstRowIndex(0) != 0 {
		return false
	}
	end := c.start
	for i := range n {
		off, size, row := oi.Offset(i), oi.CompressedPageSize(i), oi.FirstRowIndex(i)
		if off < end || size <= 0 || off+size > c.end || row >= c.rows || (i > 0 && row < oi.FirstRowIndex(i-1)) {
			return false
		}
		end = off + size
	}
	return true
}

// indexed sends out the pages that hold rows of [lo, hi) as the offset index
// finds them, reading only those pages and the dictionary page. done is false
// when the index did not match the pages before anything was sent, so the
// caller can walk the headers instead; ok is false when reading should stop.
func (cs *chunkScan) indexed(lo, hi int64, oi parquet.OffsetIndex) (ok, done bool) {
	s, c := cs.s, cs.c
	dim := int64(s.dim)
	n := oi.NumPages()
	firstRow := func(i int) int64 { // of page i, within the chunk; the chunk's rows for i = n
		if i == n {
			return c.rows
		}
		return oi.FirstRowIndex(i)
	}
	// Pages i0 to i1 hold rows [lo, hi).
	rlo, rhi := max(lo-c.firstRow, 0), min(hi-c.firstRow, c.rows)
	i0 := sort.Search(n, func(i int) bool { return firstRow(i) > rlo }) - 1
	i1 := sort.Search(n, func(i int) bool { return firstRow(i) >= rhi }) - 1

	pos := (c.firstRow + firstRow(i0)) * dim // where the next page should start, in entries
	if more, ok, done := cs.indexedDictionary(oi.Offset(0), &pos); !more {
		return ok, done
	}
	k := i0 // the index of the next data page
	err := scanPages(s.r, oi.Offset(i0), oi.Offset(i1)+oi.CompressedPageSize(i1), cs.limits(nil), cs.corrupt(&pos), cs.dataPages(func(p rawPage) error {
		defer func() { k++ }()
		switch {
		case k == i0 && p.offset != oi.Offset(k):
			p.release()
			return errBadIndex
		case k > i1 || p.offset != oi.Offset(k):
			p.release()
			return s.embErr(pos/dim, "corrupt offset index of row group %d: a page at offset %d, none listed there", c.rowGroup, p.offset)
		}
		if want := (c.firstRow + firstRow(k)) * dim; pos != want {
			p.release()
			return cs.indexCountError(k-1, firstRow(k-1), firstRow(k), pos)
		}
		cs.send(p, pos)
		pos += int64(entries(p.header))
		if cs.first.before(pos) {
			return errStop
		}
		return nil
	}))
	switch {
	case errors.Is(err, errBadIndex):
		return false, false
	case errors.Is(err, errStop):
		return false, true
	case err != nil:
		cs.first.set(pos, s.corruptOrIO(pos/dim, oi.Offset(i0), err))
		return false, true
	case k != i1+1:
		cs.first.set(pos, s.embErr(pos/dim, "corrupt offset index of row group %d: %d pages listed at offsets %d to %d, %d found",
			c.rowGroup, i1-i0+1, oi.Offset(i0), oi.Offset(i1), k-i0))
		return false, true
	}
	if want := (c.firstRow + firstRow(i1+1)) * dim; pos != want {
		if i1+1 == n {
			cs.first.set(pos, s.countError(c, pos-c.firstRow*dim))
		} else {
			cs.first.set(pos, cs.indexCountError(i1, firstRow(i1), firstRow(i1+1), pos))
		}
		return false, true
	}
	return true, true
}

// indexedDictionary reads the dictionary page in the bytes before the chunk's
// first data page, which starts at start, if there are any. more is true when
// indexed goes on to the data pages; otherwise ok and done are indexed's
// results. pos is indexed's position, for the errors of a corrupt page.
func (cs *chunkScan) indexedDictionary(start int64, pos *int64) (more, ok, done bool) {
	s, c := cs.s, cs.c
	if start <= c.start {
		return true, false, false
	}
	err := scanPages(s.r, c.start, start, cs.limits(nil), cs.corrupt(pos), func(p rawPage) error {
		if p.header.Type == format.DictionaryPage {
			return cs.dictionary(p)
		}
		p.release()
		if p.header.Type == format.DataPage || p.header.Type == format.DataPageV2 {
			return errBadIndex
		}
		return nil
	})
	switch {
	case errors.Is(err, errBadIndex):
		return false, false, false
	case err != nil:
		cs.first.set(*pos, s.corruptOrIO(*pos/int64(s.dim), c.start, err))
		return false, false, true
	}
	return true, false, false
}

// indexCountError reports page i, whose rows [from, to) of the chunk by the
// offset index do not hold the values the page holds (it ends at entry end),
// when the page itself was found well formed.
func (cs *chunkScan) indexCountError(i int, from, to, end int64) error {
	dim := int64(cs.s.dim)
	got := end - (cs.c.firstRow+from)*dim
	if err := cs.s.shortLastRow(cs.c.firstRow+from, to-from, got); err != nil {
		return err
	}
	return cs.s.embErr(cs.c.firstRow+from, "corrupt offset index of row group %d: page %d holds %d values, the index gives it %d rows of dimension %d",
		cs.c.rowGroup, i, got, to-from, dim)
}

// scan walks the chunk's page headers from its start and sends out the pages
// that hold rows of [lo, hi). Rows are counted exactly (from the headers or
// the repetition levels) up to the first page sent; from there on each page
// sent starts where the one before ended, which its decoder checks.
func (cs *chunkScan) scan(lo, hi int64) bool {
	s, c := cs.s, cs.c
	dim := int64(s.dim)
	row := c.firstRow // rows begun before the next page, while none was sent
	at := row * dim   // the entry where the next page starts
	sent, firstPage := false, true
	// Until the range starts, read little at a time: a page of more than
	// half of this is skipped having read its header (and, for version 1,
	// the start of its body).
	read := walkRead
	err := scanPages(s.r, c.start, c.end, cs.limits(&read), cs.corrupt(&at), cs.dataPages(func(p rawPage) error {
		if !sent {
			// A chunk starts with a whole row, so its first page needs no
			// counting when the range starts there.
			lead := int64(0)
			if !firstPage || row < lo {
				rows, l, err := cs.countRows(p, row)
				firstPage = false
				if err != nil {
					p.release()
					return err
				}
				if row+rows <= lo {
					p.release()
					row += rows
					at = row * dim
					return nil
				}
				lead = l
			}
			// The page's first lead entries end row row-1.
			at, sent = row*dim-lead, true
			read = segmentSize
		}
		if at >= hi*dim {
			p.release()
			return errDone
		}
		cs.send(p, at)
		at += int64(entries(p.header))
		if cs.first.before(at) {
			return errStop
		}
		if at >= hi*dim && hi < c.firstRow+c.rows {
			return errDone // the next page starts past the range
		}
		return nil
	}))
	switch {
	case errors.Is(err, errDone):
		return true
	case errors.Is(err, errStop):
		return false
	case err != nil:
		cs.first.set(at, s.corruptOrIO(max(at, 0)/dim, c.start, err))
		return false
	case !sent:
		cs.first.set(at, s.embErr(-1, "corrupt: row group %d: its pages hold %d rows, the footer says %d", c.rowGroup, row-c.firstRow, c.rows))
		return false
	}
	if want := (c.firstRow + c.rows) * dim; at != want {
		cs.first.set(at, s.countError(c, at-c.firstRow*dim))
		return false
	}
	return true
}

// countRows returns how many rows begin in data page p and how many entries
// come before the first of them (the end of a row begun in an earlier page).
// row is the number of rows begun before the page, for messages.
func (cs *chunkScan) countRows(p rawPage, row int64) (rows, lead int64, err error) {
	s, h := cs.s, p.header
	if h.Type == format.DataPageV2 {
		// Version 2 pages start at row boundaries and say how many rows they hold.
		if r := h.DataPageHeaderV2.V.NumRows; r >= 0 {
			return int64(r), 0, nil
		}
		return 0, 0, s.embErr(row, "row group %d: page at offset %d: corrupt header: %d rows", cs.c.rowGroup, p.offset, h.DataPageHeaderV2.V.NumRows)
	}
	var body io.Reader
	if p.body != nil {
		body = bytes.NewReader(p.body)
	} else {
		body = streamBody(s.r, p.bodyOff, p.bodySize)
	}
	if _, _, _, err := cs.pr.open(h, cs.c.codec, body, p.bodySize, s.embedding.maxRep, s.embedding.maxDef); err != nil {
		return 0, 0, s.corruptOrIO(row, p.offset, err)
	}
	n := entries(h)
	starts, first, err := countRowStarts(cs.pr.rep, n)
	if err != nil {
		return 0, 0, s.embErr(row, "row group %d: page at offset %d: corrupt repetition levels: %v", cs.c.rowGroup, p.offset, err)
	}
	if first < 0 {
		first = n
	}
	return int64(starts), int64(first), nil
}

// countRowStarts counts the zeros among n repetition levels (one bit each):
// the rows that begin there. first is the offset of the first zero, or -1.
func countRowStarts(data []byte, n int) (starts, first int, err error) {
	var h hybrid
	h.reset(data, 1)
	first = -1
	for seen := 0; seen < n; {
		v, k, packed, err := h.nextRun()
		if err != nil {
			return 0, 0, levelsErr(err, seen, n)
		}
		k = min(k, n-seen)
		if packed == nil {
			if v == 0 && k > 0 {
				if first < 0 {
					first = seen
				}
				starts += k
			}
			seen += k
			continue
		}
		i := 0
		for ; i+8 <= k; i += 8 { // a byte at a time
			b := packed[i/8]
			if b != 0xff && first < 0 {
				first = seen + i + bits.TrailingZeros8(^b)
			}
			starts += 8 - bits.OnesCount8(b)
		}
		for ; i < k; i++ {
			if packed[i/8]>>(i%8)&1 == 0 {
				if first < 0 {
					first = seen + i
				}
				starts++
			}
		}
		seen += k
	}
	return starts, first, nil
}
