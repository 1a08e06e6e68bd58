package activities

// The checkpoint files under _work/: one partial per tile, one file of
// candidate windows per block. They hold miner values only (global corpus
// rows, float32 scores), one row per query, gob-encoded and zstd-compressed,
// so that they are small and byte-identical for identical content. They were
// Parquet until decoding nested rows through parquet-go's reflection turned
// out to be most of a merge's time; no other tool reads them.
//
// They are not dataset.PartialRow: that row lacks what miner.Merge needs in
// labeled mode (the same-label count and lowest score) and for easy negatives
// (each draw's place in the query's stream, which orders the merged draws),
// and the ids that let Rebalance write parts without reading the corpus again.
// TODO(dataset): move these rows there once dataset's partials carry them.

import (
	"bytes"
	"encoding/gob"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"

	"github.com/hardneg/hardneg/miner"
)

// partialRow is one query's miner.Partial, with the corpus id of every row in
// it (ids travel as text; int64 ids are formatted in decimal).
type partialRow struct {
	TopRows    []int64
	TopScores  []float32
	TopIDs     []string
	PosRows    []int64
	PosScores  []float32
	PosIDs     []string
	SameCount  int64
	SameMin    float32
	EasyDraws  []int32
	EasyRows   []int64
	EasyScores []float32
	EasyIDs    []string
}

// windowRow is one query's miner.Window, with the query's id, its positives as
// the input lists them, its label, and the corpus id of every row.
type windowRow struct {
	QueryID    string
	Positives  []string
	Label      string
	HardRows   []int64
	HardScores []float32
	HardRanks  []int32
	HardIDs    []string
	EasyRows   []int64
	EasyScores []float32
	EasyIDs    []string
	PosRows    []int64
	PosScores  []float32
	PosIDs     []string
	Anchor     float32
	HasAnchor  bool
	Removed    []int64 // miner.Removed, field by field
}

// writeRows encodes checkpoint rows: gob, then zstd. Checkpoints are read
// only by hardneg itself, and decoding nested Parquet rows through
// parquet-go's reflection was most of a merge's time; gob of the same structs
// is several times cheaper and, for the same values, the same bytes.
// checkpointBatch is the rows per gob message. One message for a whole block
// made gob grow a single buffer to the file's size, copying it again and again.
const checkpointBatch = 1024

func writeRows[T any](w io.Writer, rows []T) error {
	var raw bytes.Buffer
	enc := gob.NewEncoder(&raw)
	for lo := 0; lo < len(rows); lo += checkpointBatch {
		if err := enc.Encode(rows[lo:min(lo+checkpointBatch, len(rows))]); err != nil {
			return err
		}
	}
	_, err := w.Write(zstdEncoder.EncodeAll(raw.Bytes(), make([]byte, 0, raw.Len()/2)))
	return err
}

func readRows[T any](data []byte, name string) ([]T, error) {
	raw, err := zstdDecoder.DecodeAll(data, nil)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	var rows []T
	dec := gob.NewDecoder(bytes.NewReader(raw))
	for {
		var batch []T
		err := dec.Decode(&batch)
		if errors.Is(err, io.EOF) {
			return rows, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", name, err)
		}
		rows = append(rows, batch...)
	}
}

// One encoder and decoder serve every checkpoint: EncodeAll and DecodeAll are
// safe for concurrent use, and building them costs more than a small file.
var (
	zstdEncoder, _ = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest))
	zstdDecoder, _ = zstd.NewReader(nil)
)

// rowIDs names corpus rows by their ids.
type rowIDs map[int64]string

func (m rowIDs) of(rows []int64) []string {
	if len(rows) == 0 {
		return nil
	}
	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i] = m[r]
	}
	return ids
}

func (m rowIDs) add(rows []int64, ids []string) {
	for i, r := range rows {
		m[r] = ids[i]
	}
}

// writePartials writes a tile's partials; id names every row they hold.
func writePartials(w io.Writer, parts []miner.Partial, id func(row int64) string) error {
	rows := make([]partialRow, len(parts))
	ids := func(rs []int64) []string {
		if len(rs) == 0 {
			return nil
		}
		out := make([]string, len(rs))
		for i, r := range rs {
			out[i] = id(r)
		}
		return out
	}
	for i, p := range parts {
		r := &rows[i]
		r.TopRows, r.TopScores = splitCandidates(p.Top)
		r.PosRows, r.PosScores = splitCandidates(p.Positives)
		r.SameCount, r.SameMin = p.SameLabel.Count, p.SameLabel.Min
		for _, d := range p.Easy {
			r.EasyDraws = append(r.EasyDraws, d.Draw)
			r.EasyRows = append(r.EasyRows, d.Row)
			r.EasyScores = append(r.EasyScores, d.Score)
		}
		r.TopIDs, r.PosIDs, r.EasyIDs = ids(r.TopRows), ids(r.PosRows), ids(r.EasyRows)
	}
	return writeRows(w, rows)
}

// readPartials reads a tile's partials and adds the ids of their rows to ids[q].
func readPartials(data []byte, name string, ids []rowIDs) ([]miner.Partial, error) {
	rows, err := readRows[partialRow](data, name)
	if err != nil {
		return nil, err
	}
	if len(rows) != len(ids) {
		return nil, fmt.Errorf("read %s: %d queries, want %d", name, len(rows), len(ids))
	}
	parts := make([]miner.Partial, len(rows))
	for i, r := range rows {
		if len(r.TopRows) != len(r.TopScores) || len(r.TopRows) != len(r.TopIDs) ||
			len(r.PosRows) != len(r.PosScores) || len(r.PosRows) != len(r.PosIDs) ||
			len(r.EasyDraws) != len(r.EasyRows) || len(r.EasyRows) != len(r.EasyScores) || len(r.EasyRows) != len(r.EasyIDs) {
			return nil, fmt.Errorf("read %s: row %d: columns of different lengths", name, i)
		}
		p := &parts[i]
		p.Top = joinCandidates(r.TopRows, r.TopScores)
		p.Positives = joinCandidates(r.PosRows, r.PosScores)
		p.SameLabel = miner.SameLabel{Count: r.SameCount, Min: r.SameMin}
		for j := range r.EasyRows {
			p.Easy = append(p.Easy, miner.Drawn{Draw: r.EasyDraws[j], Row: r.EasyRows[j], Score: r.EasyScores[j]})
		}
		ids[i].add(r.TopRows, r.TopIDs)
		ids[i].add(r.PosRows, r.PosIDs)
		ids[i].add(r.EasyRows, r.EasyIDs)
	}
	return parts, nil
}

// queryWindow is what MergeBlock leaves for Rebalance about one query.
type queryWindow struct {
	ID        string
	Positives []string // the input's positive ids (pairs mode)
	Label     string   // labeled mode
	Win       miner.Window
	IDs       rowIDs // every row of Win
}

func writeWindows(w io.Writer, qws []queryWindow) error {
	rows := make([]windowRow, len(qws))
	for i, qw := range qws {
		r := &rows[i]
		win := qw.Win
		r.QueryID, r.Positives, r.Label = qw.ID, qw.Positives, qw.Label
		for _, n := range win.Hard {
			r.HardRows = append(r.HardRows, n.Row)
			r.HardScores = append(r.HardScores, n.Score)
			r.HardRanks = append(r.HardRanks, n.Rank)
		}
		for _, n := range win.Easy {
			r.EasyRows = append(r.EasyRows, n.Row)
			r.EasyScores = append(r.EasyScores, n.Score)
		}
		r.PosRows, r.PosScores = splitCandidates(win.Positives)
		r.HardIDs, r.EasyIDs, r.PosIDs = qw.IDs.of(r.HardRows), qw.IDs.of(r.EasyRows), qw.IDs.of(r.PosRows)
		r.Anchor, r.HasAnchor = win.Anchor, win.HasAnchor
		rm := win.Removed
		r.Removed = []int64{rm.Pool, rm.Positive, rm.AbsoluteMargin, rm.RelativeMargin, rm.MaxScore, rm.MinScore, rm.RangeMax, rm.RangeMin}
	}
	return writeRows(w, rows)
}

func readWindows(data []byte, name string) ([]queryWindow, error) {
	rows, err := readRows[windowRow](data, name)
	if err != nil {
		return nil, err
	}
	qws := make([]queryWindow, len(rows))
	for i, r := range rows {
		if len(r.HardRows) != len(r.HardScores) || len(r.HardRows) != len(r.HardRanks) || len(r.HardRows) != len(r.HardIDs) ||
			len(r.EasyRows) != len(r.EasyScores) || len(r.EasyRows) != len(r.EasyIDs) ||
			len(r.PosRows) != len(r.PosScores) || len(r.PosRows) != len(r.PosIDs) || len(r.Removed) != 8 {
			return nil, fmt.Errorf("read %s: row %d: columns of different lengths", name, i)
		}
		qw := &qws[i]
		qw.ID, qw.Positives, qw.Label = r.QueryID, r.Positives, r.Label
		w := &qw.Win
		for j := range r.HardRows {
			w.Hard = append(w.Hard, miner.Negative{Row: r.HardRows[j], Score: r.HardScores[j], Kind: miner.KindHard, Rank: r.HardRanks[j]})
		}
		for j := range r.EasyRows {
			w.Easy = append(w.Easy, miner.Negative{Row: r.EasyRows[j], Score: r.EasyScores[j], Kind: miner.KindEasy, Rank: -1})
		}
		w.Positives = joinCandidates(r.PosRows, r.PosScores)
		w.Anchor, w.HasAnchor = r.Anchor, r.HasAnchor
		rm := r.Removed
		w.Removed = miner.Removed{Pool: rm[0], Positive: rm[1], AbsoluteMargin: rm[2], RelativeMargin: rm[3],
			MaxScore: rm[4], MinScore: rm[5], RangeMax: rm[6], RangeMin: rm[7]}
		qw.IDs = rowIDs{}
		qw.IDs.add(r.HardRows, r.HardIDs)
		qw.IDs.add(r.EasyRows, r.EasyIDs)
		qw.IDs.add(r.PosRows, r.PosIDs)
	}
	return qws, nil
}

func splitCandidates(cs []miner.Candidate) (rows []int64, scores []float32) {
	if len(cs) == 0 {
		return nil, nil
	}
	rows, scores = make([]int64, len(cs)), make([]float32, len(cs))
	for i, c := range cs {
		rows[i], scores[i] = c.Row, c.Score
	}
	return rows, scores
}

func joinCandidates(rows []int64, scores []float32) []miner.Candidate {
	if len(rows) == 0 {
		return nil
	}
	cs := make([]miner.Candidate, min(len(rows), len(scores)))
	for i := range cs {
		cs[i] = miner.Candidate{Row: rows[i], Score: scores[i]}
	}
	return cs
}
