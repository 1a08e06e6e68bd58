package dataset

import (
	"fmt"
	"slices"

	"github.com/parquet-go/parquet-go"
)

// textGap is how many unwanted rows ReadTexts reads through rather than
// seeking past them: below it, decoding the pages in between costs less than
// starting a new seek, which decodes a page too.
const textGap = 4096

// textColumn finds the text column: one string per row, present.
func (s *Shard) textColumn(name string) (column, error) {
	c, found, err := s.lookup(name)
	switch {
	case err != nil:
		return c, err
	case !found:
		return c, inputErrorf(s.name, name, -1, "missing column (the file has %s)", s.fieldNames())
	case c.maxRep != 0:
		return c, inputErrorf(s.name, name, -1, "wrong type: %s, want a string (the texts of text_column)", describe(c.leaf.Type(), c.maxRep))
	}
	if c.kind, err = keyKind(c.leaf.Type()); err != nil || c.kind != String {
		return c, inputErrorf(s.name, name, -1, "wrong type: %s, want a string (the texts of text_column)", describe(c.leaf.Type(), 0))
	}
	return c, nil
}

// ReadTexts reads the texts of the given rows of the shard, which must be
// sorted and within [0, Rows()): texts[i] is the text of rows[i]. Only the
// rows asked for are kept, so the memory held is that of their texts and one
// page; the pages between two rows far apart are skipped through the page
// index. A null text is an *InputError naming the row.
func (s *Shard) ReadTexts(rows []int64) (_ []string, err error) {
	mark := s.r.mark()
	defer func() { err = s.settle(mark, err) }()
	defer recoverCorrupt(s.name, &err)
	if s.text == nil {
		return nil, fmt.Errorf("read texts of %s: the shard was opened without a text column", s.name)
	}
	if !slices.IsSorted(rows) || (len(rows) > 0 && (rows[0] < 0 || rows[len(rows)-1] >= s.rows)) {
		return nil, fmt.Errorf("read texts of %s: rows must be sorted and within [0, %d)", s.name, s.rows)
	}
	texts := make([]string, len(rows))
	for i := 0; i < len(rows); {
		j := i + 1
		for j < len(rows) && rows[j]-rows[j-1] <= textGap {
			j++
		}
		if err := s.readTextRun(rows[i:j], texts[i:j]); err != nil {
			return nil, err
		}
		i = j
	}
	return texts, nil
}

// readTextRun reads the texts of rows, which lie close together.
func (s *Shard) readTextRun(rows []int64, texts []string) error {
	next := 0
	return s.readValues(s.text, rows[0], rows[len(rows)-1]+1, func(row int64, v *parquet.Value) error {
		for next < len(rows) && rows[next] == row {
			if v.IsNull() {
				return inputErrorf(s.name, s.text.name, row, "null text")
			}
			texts[next] = string(v.ByteArray()) // a copy: v's bytes are reused
			next++
		}
		return nil
	})
}
