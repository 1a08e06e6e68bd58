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

// readValues calls fn with every value of column c, in row order.
func (s *Shard) readValues(c *column, fn func(v *parquet.Value) error) error {
	buf := make([]parquet.Value, 1024)
	for i, rg := range s.file.RowGroups() {
		if err := s.readChunkValues(rg.ColumnChunks()[c.index], buf, fn); err != nil {
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

func (s *Shard) readChunkValues(chunk parquet.ColumnChunk, buf []parquet.Value, fn func(v *parquet.Value) error) error {
	pages := chunk.Pages()
	defer pages.Close()
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
				if err := fn(&buf[i]); err != nil {
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

// readKeys reads a column of one non-null string or integer per row.
func (s *Shard) readKeys(c *column) (IDs, error) {
	k := newKeyReader(c, int(s.rows))
	var row int64
	err := s.readValues(c, func(v *parquet.Value) error {
		if v.DefinitionLevel() != c.maxDef {
			return inputErrorf(s.name, c.name, row, "null")
		}
		k.add(v)
		row++
		return nil
	})
	if err != nil {
		return IDs{}, err
	}
	if row != s.rows {
		return IDs{}, inputErrorf(s.name, c.name, -1, "corrupt: %d values for %d rows", row, s.rows)
	}
	return k.ids(), nil
}

// ReadIDs reads the id column. Ids must be present and unique within the
// shard; a null or a repeated id is an *InputError naming its row.
func (s *Shard) ReadIDs() (IDs, error) {
	ids, err := s.readKeys(&s.id)
	if err != nil {
		return IDs{}, err
	}
	if err := checkUnique(ids, s.name, s.id.name); err != nil {
		return IDs{}, err
	}
	return ids, nil
}

// checkUnique returns an *InputError for the first id seen twice.
func checkUnique(ids IDs, object, col string) error {
	dup := func(i, j int) error {
		return inputErrorf(object, col, int64(j), "duplicate id %s (also row %d)", ids.Format(j), i)
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
	if s.label == nil {
		return IDs{}, inputErrorf(s.name, "", -1, "no label column")
	}
	return s.readKeys(s.label)
}

// ReadPositives reads the positives column: a list of ids per row. A null
// list reads as an empty one; a null id in a list is an *InputError. Without a
// positives column it returns an *InputError.
func (s *Shard) ReadPositives() (Lists, error) {
	c := s.positives
	if c == nil {
		return Lists{}, inputErrorf(s.name, "", -1, "no positives column")
	}
	k := newKeyReader(c, int(s.rows))
	offsets := make([]int64, 0, s.rows+1)
	row := int64(-1)
	err := s.readValues(c, func(v *parquet.Value) error {
		if v.RepetitionLevel() == 0 {
			row++
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
	if row+1 != s.rows {
		return Lists{}, inputErrorf(s.name, c.name, -1, "corrupt: %d lists for %d rows", row+1, s.rows)
	}
	offsets = append(offsets, int64(len(k.strs)+len(k.ints)))
	return Lists{Offsets: offsets, IDs: k.ids()}, nil
}
