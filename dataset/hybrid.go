package dataset

import (
	"encoding/binary"
	"errors"
	"io"
)

// hybrid decodes Parquet's RLE / bit-packing hybrid encoding, used for
// repetition and definition levels and for dictionary indexes.
//
// parquet-go decodes it too, but only behind its page API, which expands every
// level into a byte and cannot be pointed at a page we read ourselves; this
// decoder hands out whole runs, so a run of 767 equal levels is checked at once.
type hybrid struct {
	data   []byte
	width  uint // bits per value, 0..32
	bp     []byte
	bpLeft int // values left in the current bit-packed run
}

var errCorruptRun = errors.New("corrupt RLE/bit-packed run")

// reset starts decoding data, whose values are width bits wide.
func (h *hybrid) reset(data []byte, width uint) {
	*h = hybrid{data: data, width: width}
}

// next returns the next run of values: either count copies of val (lits nil),
// or literal values decoded into buf (at most len(buf), a multiple of 8).
// A bit-packed run may end with padding values that the caller ignores.
// It returns io.EOF when the data is exhausted.
func (h *hybrid) next(buf []uint32) (val uint32, count int, lits []uint32, err error) {
	if h.bpLeft == 0 {
		val, count, packed, err := h.nextRun()
		if err != nil || packed == nil {
			return val, count, nil, err
		}
		h.bp, h.bpLeft = packed, count
	}
	lits = h.unpack(buf)
	return 0, len(lits), lits, nil
}

// nextRun returns the next run: either count copies of val (packed nil), or
// the bytes of a bit-packed run of count values, undecoded (a group of 8
// values fills width bytes, the first value in the lowest bits). It returns
// io.EOF when the data is exhausted.
func (h *hybrid) nextRun() (val uint32, count int, packed []byte, err error) {
	if len(h.data) == 0 {
		return 0, 0, nil, io.EOF
	}
	header, n := binary.Uvarint(h.data)
	if n <= 0 {
		return 0, 0, nil, errCorruptRun
	}
	h.data = h.data[n:]
	if header&1 == 1 { // bit-packed: header>>1 groups of 8 values
		groups := int(header >> 1)
		if groups <= 0 || h.width == 0 {
			return 0, 0, nil, errCorruptRun
		}
		// Writers may end the last run early and say so in the value
		// count, so take the whole groups that are there.
		groups = min(groups, len(h.data)/int(h.width))
		if groups == 0 {
			return 0, 0, nil, errCorruptRun
		}
		size := groups * int(h.width)
		packed, h.data = h.data[:size], h.data[size:]
		return 0, groups * 8, packed, nil
	}
	count = int(header >> 1)
	nb := int(h.width+7) / 8
	if nb > len(h.data) || count < 0 {
		return 0, 0, nil, errCorruptRun
	}
	for i := 0; i < nb; i++ {
		val |= uint32(h.data[i]) << (8 * i)
	}
	h.data = h.data[nb:]
	return val, count, nil, nil
}

// unpack decodes up to len(buf) values of the current bit-packed run, in
// groups of 8 (a group of 8 values fills exactly width bytes).
func (h *hybrid) unpack(buf []uint32) []uint32 {
	n := min(len(buf)&^7, h.bpLeft)
	if h.width == 0 {
		clear(buf[:n])
		h.bpLeft -= n
		return buf[:n]
	}
	w := h.width
	mask := uint64(1)<<w - 1
	out := buf[:0]
	for g := 0; g < n/8 && len(h.bp) >= int(w); g++ {
		// A group is w bytes (w <= 32), read as up to 4 bytes at a time.
		var acc uint64
		var bits uint
		src := h.bp[:w]
		for i := 0; i < 8; i++ {
			for bits < w {
				acc |= uint64(src[0]) << bits
				src = src[1:]
				bits += 8
			}
			out = append(out, uint32(acc&mask))
			acc >>= w
			bits -= w
		}
		h.bp = h.bp[w:]
	}
	h.bpLeft -= len(out)
	if len(h.bp) < int(w) {
		h.bpLeft = 0 // a run cut short at the end of the data
	}
	return out
}
