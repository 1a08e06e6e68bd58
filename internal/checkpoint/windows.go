package checkpoint

import (
	"fmt"

	"github.com/hardneg/hardneg/internal/hugepages"
	"github.com/hardneg/hardneg/miner"
)

// QueryWindow is what MergeBlock leaves for Rebalance about one query.
type QueryWindow struct {
	ID        string
	Positives []string // the input's positive ids (pairs mode)
	Label     string   // labeled mode
	Win       miner.Window
	IDs       *IDTable // has every row of Win; shared by the block's queries
}

// windowVersion is the first number of a block's windows file.
const windowVersion = 1

// EncodeWindows encodes a block's windows, whose rows table names:
//
//	u version (windowVersion), u queries, id table
//	per query:
//	  s id, u positives, s each, s label
//	  u hard, then u row, f score, v rank each
//	  u easy, then u row, f score each
//	  u positives scored, then u row, f score each
//	  f anchor, u has anchor (0 or 1), 8 × v removed counts
func EncodeWindows(qws []QueryWindow, table *IDTable) []byte {
	size := 0
	for _, qw := range qws {
		size += 64 + len(qw.ID) + 10*(len(qw.Win.Hard)+len(qw.Win.Easy)+len(qw.Win.Positives))
		for _, p := range qw.Positives {
			size += 2 + len(p)
		}
	}
	for _, id := range table.IDs {
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

// DecodeWindows decodes a block's windows file; name is its key, for errors.
func DecodeWindows(data []byte, name string) ([]QueryWindow, error) {
	d, err := newDecoder(data)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if v := d.uvarint(); v != windowVersion && d.err == nil {
		return nil, fmt.Errorf("read %s: windows version %d, want %d", name, v, windowVersion)
	}
	qws := make([]QueryWindow, d.count())
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

// EachWindowRow calls f with every row of a window, until f fails.
func EachWindowRow(win miner.Window, f func(row int64) error) error {
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
