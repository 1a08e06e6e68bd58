package dataset

import (
	"errors"
	"fmt"
	"io"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

// The id, label and positives columns are small next to the embeddings (one
// value or a few per row), so they are read through parquet-go's value API,
// which handles every encoding a writer may choose for strings and integers.

// readValues calls fn with every value of the rows [lo, hi) of column c, in
// row order, and the row within the shard it belongs to. Only the row groups
// that hold those rows are read; within the first, parquet-go seeks to row
// lo, through the offset index when the file has one.
func (s *Shard) readValues(c *column, lo, hi int64, fn func(row int64, v *parquet.Value) error) error {
	buf := make([]parquet.Value, 1024)
	var first int64 // the row group's first row
	for i, rg := range s.file.RowGroups() {
		rows := rg.NumRows()
		from := first
		first += rows
		if rows == 0 || from >= hi || from+rows <= lo {
			continue
		}
		if err := s.readChunkValues(c, i, rg.ColumnChunks()[c.index], from, rows, lo, hi, buf, fn); err != nil {
			var ie *InputError
			if errors.As(err, &ie) {
				return err
			}
			if ioErr := s.cr.failed(); ioErr != nil {
				return fmt.Errorf("read column %q of %s: %w", c.name, s.name, ioErr)
			}
			return inputErrorf(s.name, c.name, -1, "corrupt row group %d: %v", i, err)
		}
	}
	return nil
}

// errRangeDone ends the reading of a chunk past the rows wanted.
var errRangeDone = errors.New("range done")

// readChunkValues reads the values of rows [lo, hi) held by row group rg,
// whose rows are [from, from+rows) of the shard, and checks that a chunk read
// to its end holds as many rows as the footer says.
func (s *Shard) readChunkValues(c *column, rg int, chunk parquet.ColumnChunk, from, rows, lo, hi int64, buf []parquet.Value, fn func(row int64, v *parquet.Value) error) error {
	pages := chunk.Pages()
	defer pages.Close()
	row := from - 1 // of the last value read
	if lo > from {
		if fc, ok := chunk.(*parquet.FileColumnChunk); ok && usePageIndex {
			// Lets SeekToRow jump to the page; without it, parquet-go
			// decodes the pages before to count their rows.
			_, _ = fc.OffsetIndex() // a missing or bad index only makes seeking slower
		}
		if err := pages.SeekToRow(lo - from); err != nil {
			return fmt.Errorf("seek to row %d: %w", lo, err)
		}
		row = lo - 1
	}
	err := func() error {
		for {
			p, err := pages.ReadPage()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
			}
			vr := p.Values()
			for {
				n, err := vr.ReadValues(buf)
				for i := range buf[:n] {
					v := &buf[i]
					if c.maxRep == 0 || v.RepetitionLevel() == 0 {
						row++
					}
					if row >= hi {
						if row < from+rows {
							return errRangeDone
						}
						return inputErrorf(s.name, c.name, -1, "corrupt: row group %d holds more than the %d rows the footer says", rg, rows)
					}
					if err := fn(row, v); err != nil {
						return err
					}
				}
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					return err
				}
			}
		}
	}()
	switch {
	case errors.Is(err, errRangeDone):
		return nil
	case err != nil:
		return err
	case row != from+rows-1:
		return inputErrorf(s.name, c.name, -1, "corrupt: row group %d holds %d rows, the footer says %d", rg, row-from+1, rows)
	}
	return nil
}

// keyReader appends the values of an id or label column to IDs of its kind.
type keyReader struct {
	kind     Kind
	unsigned bool // an unsigned 32-bit column, whose values must not be sign-extended
	strs     []string
	ints     []int64
}

func newKeyReader(c *column, capacity int) *keyReader {
	k := &keyReader{kind: c.kind}
	if lt := c.leaf.Type().LogicalType(); lt != nil {
		if it, ok := lt.Value.(*format.IntType); ok && !it.IsSigned {
			k.unsigned = true
		}
	}
	if k.kind == String {
		k.strs = make([]string, 0, capacity)
	} else {
		k.ints = make([]int64, 0, capacity)
	}
	return k
}

func (k *keyReader) add(v *parquet.Value) {
	switch {
	case k.kind == String:
		k.strs = append(k.strs, string(v.ByteArray()))
	case v.Kind() == parquet.Int32 && k.unsigned:
		k.ints = append(k.ints, int64(uint32(v.Int32())))
	case v.Kind() == parquet.Int32:
		k.ints = append(k.ints, int64(v.Int32()))
	default:
		k.ints = append(k.ints, v.Int64())
	}
}

func (k *keyReader) ids() IDs {
	if k.kind == String {
		return StringIDs(k.strs)
	}
	return Int64IDs(k.ints)
}

// readKeys reads rows [lo, hi) of a column of one non-null string or
// integer per row.
func (s *Shard) readKeys(c *column, lo, hi int64) (IDs, error) {
	if err := s.checkRange(lo, hi); err != nil {
		return IDs{}, err
	}
	k := newKeyReader(c, capHint(hi-lo, s.size))
	err := s.readValues(c, lo, hi, func(row int64, v *parquet.Value) error {
		if v.DefinitionLevel() != c.maxDef {
			return inputErrorf(s.name, c.name, row, "null")
		}
		k.add(v)
		return nil
	})
	if err != nil {
		return IDs{}, err
	}
	if got := k.ids().Len(); int64(got) != hi-lo {
		return IDs{}, inputErrorf(s.name, c.name, -1, "corrupt: %d values for rows [%d, %d)", got, lo, hi)
	}
	return k.ids(), nil
}

// ReadIDs reads the id column. Ids must be present and unique within the
// shard; a null or a repeated id is an *InputError naming its row.
func (s *Shard) ReadIDs() (IDs, error) {
	return s.ReadIDsRange(0, s.rows)
}

// ReadIDsRange reads the ids of rows [lo, hi), reading only the row groups
// (and, with an offset index, the pages) that hold them. Ids must be present
// and unique within the range; a null or a repeated id is an *InputError
// naming its row within the shard.
func (s *Shard) ReadIDsRange(lo, hi int64) (_ IDs, err error) {
	mark := s.r.mark()
	defer func() { err = s.settle(mark, err) }()
	defer recoverCorrupt(s.name, &err)
	return s.readIDsRange(lo, hi)
}

// readIDsRange is ReadIDsRange without settling read failures.
func (s *Shard) readIDsRange(lo, hi int64) (IDs, error) {
	ids, err := s.readKeys(&s.id, lo, hi)
	if err != nil {
		return IDs{}, err
	}
	if err := checkUnique(ids, lo, s.name, s.id.name); err != nil {
		return IDs{}, err
	}
	return ids, nil
}

// checkUnique returns an *InputError for the first id seen twice; ids[0]
// is row base of the shard.
func checkUnique(ids IDs, base int64, object, col string) error {
	dup := func(i, j int) error {
		return inputErrorf(object, col, base+int64(j), "duplicate id %s (also row %d)", ids.Format(j), base+int64(i))
	}
	if ids.Kind() == String {
		seen := make(map[string]int, ids.Len())
		for j, id := range ids.Strings() {
			if i, ok := seen[id]; ok {
				return dup(i, j)
			}
			seen[id] = j
		}
		return nil
	}
	seen := make(map[int64]int, ids.Len())
	for j, id := range ids.Int64s() {
		if i, ok := seen[id]; ok {
			return dup(i, j)
		}
		seen[id] = j
	}
	return nil
}

// ReadLabels reads the label column, one non-null label per row. Without a
// label column it returns an *InputError.
func (s *Shard) ReadLabels() (IDs, error) {
	return s.ReadLabelsRange(0, s.rows)
}

// ReadLabelsRange reads the labels of rows [lo, hi), as ReadLabels does,
// reading only the row groups that hold them.
func (s *Shard) ReadLabelsRange(lo, hi int64) (_ IDs, err error) {
	mark := s.r.mark()
	defer func() { err = s.settle(mark, err) }()
	defer recoverCorrupt(s.name, &err)
	return s.readLabelsRange(lo, hi)
}

// readLabelsRange is ReadLabelsRange without settling read failures.
func (s *Shard) readLabelsRange(lo, hi int64) (IDs, error) {
	if s.label == nil {
		return IDs{}, inputErrorf(s.name, "", -1, "no label column")
	}
	return s.readKeys(s.label, lo, hi)
}

// ReadPositives reads the positives column: a list of ids per row. A null
// list reads as an empty one; a null id in a list is an *InputError. Without a
// positives column it returns an *InputError.
func (s *Shard) ReadPositives() (Lists, error) {
	return s.ReadPositivesRange(0, s.rows)
}

// ReadPositivesRange reads the positives of rows [lo, hi), as ReadPositives
// does, reading only the row groups that hold them. Row r of the result is
// row lo+r of the shard.
func (s *Shard) ReadPositivesRange(lo, hi int64) (_ Lists, err error) {
	mark := s.r.mark()
	defer func() { err = s.settle(mark, err) }()
	defer recoverCorrupt(s.name, &err)
	return s.readPositivesRange(lo, hi)
}

// readPositivesRange is ReadPositivesRange without settling read failures.
func (s *Shard) readPositivesRange(lo, hi int64) (Lists, error) {
	c := s.positives
	if c == nil {
		return Lists{}, inputErrorf(s.name, "", -1, "no positives column")
	}
	if err := s.checkRange(lo, hi); err != nil {
		return Lists{}, err
	}
	k := newKeyReader(c, capHint(hi-lo, s.size))
	offsets := make([]int64, 0, capHint(hi-lo+1, s.size))
	last := lo - 1
	err := s.readValues(c, lo, hi, func(row int64, v *parquet.Value) error {
		if row != last {
			last = row
			offsets = append(offsets, int64(len(k.strs)+len(k.ints)))
		}
		switch def := v.DefinitionLevel(); {
		case def < c.listDef: // a null or empty list
		case def < c.maxDef:
			return inputErrorf(s.name, c.name, row, "null id in the list")
		default:
			k.add(v)
		}
		return nil
	})
	if err != nil {
		return Lists{}, err
	}
	if int64(len(offsets)) != hi-lo {
		return Lists{}, inputErrorf(s.name, c.name, -1, "corrupt: %d lists for rows [%d, %d)", len(offsets), lo, hi)
	}
	offsets = append(offsets, int64(len(k.strs)+len(k.ints)))
	return Lists{Offsets: offsets, IDs: k.ids()}, nil
}
