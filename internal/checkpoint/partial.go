package checkpoint

// A tile's partial: the best candidates of each query of the block in one
// corpus shard. In the checkpoint layout (checkpoint.go):
//
//	u version (partialVersion), u queries, id table
//	per query:
//	  u top, u positives, u easy, u same-label count, f same-label minimum
//	  top and positives: u row, f score each
//	  easy: u draw, u row, f score each

import (
	"fmt"

	"github.com/hardneg/hardneg/internal/hugepages"
	"github.com/hardneg/hardneg/miner"
)

// partialVersion is the first number of a partial; DecodePartials refuses others.
const partialVersion = 1

// EncodePartials encodes a tile's partials. Their rows lie in the shard whose
// rows are [first, first+rows); id names each by its shard-local index.
func EncodePartials(partials []miner.Partial, first int64, rows int, id func(local int) string) ([]byte, error) {
	used, err := usedRows(partials, first, rows)
	if err != nil {
		return nil, err
	}
	table := &IDTable{Rows: used, IDs: make([]string, len(used))}
	for i, r := range used {
		table.IDs[i] = id(int(r - first))
	}
	// Sized up front: growing the buffer by doubling copied it all again.
	size := 16 * len(partials)
	for _, p := range partials {
		size += 8*(len(p.Top)+len(p.Positives)) + 10*len(p.Easy)
	}
	for _, id := range table.IDs {
		size += 4 + len(id)
	}
	e := encoder{b: hugepages.Make[byte](size)[:0]}
	e.u(partialVersion)
	e.u(uint64(len(partials)))
	e.table(table)
	for _, p := range partials {
		e.partial(p)
	}
	return e.compressed(), nil
}

// usedRows lists, ascending, the distinct rows the partials hold.
func usedRows(partials []miner.Partial, first int64, rows int) ([]int64, error) {
	set := NewRowSet(first, int64(rows))
	mark := func(r int64) error {
		if !set.Add(r) {
			return fmt.Errorf("row %d is outside the shard's rows [%d, %d)", r, first, first+int64(rows))
		}
		return nil
	}
	for _, p := range partials {
		if err := EachRow(p, mark); err != nil {
			return nil, err
		}
	}
	return set.Rows(), nil
}

func (e *encoder) partial(p miner.Partial) {
	e.u(uint64(len(p.Top)))
	e.u(uint64(len(p.Positives)))
	e.u(uint64(len(p.Easy)))
	e.u(uint64(p.SameLabel.Count))
	e.f(p.SameLabel.Min)
	e.candidates(p.Top)
	e.candidates(p.Positives)
	for _, d := range p.Easy {
		e.u(uint64(uint32(d.Draw)))
		e.u(uint64(d.Row))
		e.f(d.Score)
	}
}

// DecodePartials reads a tile's partials of want queries and the ids of their
// rows.
func DecodePartials(data []byte, name string, want int) ([]miner.Partial, *IDTable, error) {
	d, err := newDecoder(data)
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", name, err)
	}
	if v := d.uvarint(); v != partialVersion && d.err == nil {
		return nil, nil, fmt.Errorf("read %s: partial version %d, want %d", name, v, partialVersion)
	}
	if n := d.uvarint(); n != uint64(want) && d.err == nil {
		return nil, nil, fmt.Errorf("read %s: %d queries, want %d", name, n, want)
	}
	t := d.table()
	partials := make([]miner.Partial, want)
	arena := newPartialArena(len(d.b))
	for q := range partials {
		partials[q] = d.partial(arena)
	}
	if err := d.end(); err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", name, err)
	}
	return partials, t, nil
}

// EachRow calls f with every row p holds, until f fails.
func EachRow(p miner.Partial, f func(row int64) error) error {
	for _, cs := range [2][]miner.Candidate{p.Top, p.Positives} {
		for _, c := range cs {
			if err := f(c.Row); err != nil {
				return err
			}
		}
	}
	for _, d := range p.Easy {
		if err := f(d.Row); err != nil {
			return err
		}
	}
	return nil
}

func (d *decoder) partial(a *partialArena) miner.Partial {
	top, pos, easy := d.count(), d.count(), d.count()
	p := miner.Partial{SameLabel: miner.SameLabel{Count: int64(d.uvarint()), Min: d.f32()}}
	p.Top, p.Positives = a.candidates(d, top), a.candidates(d, pos)
	if easy > 0 && d.err == nil {
		p.Easy = take(&a.drawn, easy)
		for i := range p.Easy {
			p.Easy[i] = miner.Drawn{Draw: int32(uint32(d.uvarint())), Row: int64(d.uvarint()), Score: d.f32()}
		}
	}
	return p
}

// partialArena holds the lists of a file's partials in a few large slices
// instead of three small ones per query: allocating those was a third of a
// merge's time.
type partialArena struct {
	cands []miner.Candidate
	drawn []miner.Drawn
}

// newPartialArena sizes an arena for what n bytes can hold at most: a
// candidate takes at least 5 of them, a draw 6.
func newPartialArena(n int) *partialArena {
	return &partialArena{cands: hugepages.Make[miner.Candidate](n / 5)[:0], drawn: hugepages.Make[miner.Drawn](n / 6)[:0]}
}

func (a *partialArena) candidates(d *decoder, n int) []miner.Candidate {
	if n == 0 || d.err != nil {
		return nil
	}
	cs := take(&a.cands, n)
	for i := range cs {
		cs[i] = miner.Candidate{Row: int64(d.uvarint()), Score: d.f32()}
	}
	return cs
}

// take cuts the next n elements off an arena, growing it if needed; the
// slice it returns cannot be appended into its neighbour.
func take[T any](arena *[]T, n int) []T {
	if len(*arena)+n > cap(*arena) {
		*arena = hugepages.Make[T](max(n, cap(*arena)))[:0]
	}
	lo := len(*arena)
	*arena = (*arena)[:lo+n]
	return (*arena)[lo : lo+n : lo+n]
}
