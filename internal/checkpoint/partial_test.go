package checkpoint

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/hardneg/hardneg/miner"
)

// samplePartials makes n queries' partials over the shard [first, first+rows):
// some with every list, some empty, scores including -0 and the extremes.
func samplePartials(n int, first int64, rows int, seed uint64) []miner.Partial {
	rng := rand.New(rand.NewPCG(seed, 0))
	row := func() int64 { return first + rng.Int64N(int64(rows)) }
	cands := func(k int) []miner.Candidate {
		if k == 0 {
			return nil
		}
		cs := make([]miner.Candidate, k)
		for i := range cs {
			cs[i] = miner.Candidate{Row: row(), Score: rng.Float32()*2 - 1}
		}
		return cs
	}
	partials := make([]miner.Partial, n)
	for q := range partials {
		p := &partials[q]
		if q%5 == 4 {
			continue // a query with nothing in this shard
		}
		p.Top, p.Positives = cands(rng.IntN(12)), cands(rng.IntN(3))
		p.SameLabel = miner.SameLabel{Count: rng.Int64N(1000), Min: rng.Float32()}
		for d := range rng.IntN(4) {
			p.Easy = append(p.Easy, miner.Drawn{Draw: int32(d * 3), Row: row(), Score: rng.Float32()})
		}
	}
	if n == 0 {
		return partials
	}
	partials[0].Top = append(partials[0].Top, miner.Candidate{Row: first, Score: float32(math.Copysign(0, -1))},
		miner.Candidate{Row: first + int64(rows) - 1, Score: math.MaxFloat32})
	return partials
}

func shardID(local int) string { return fmt.Sprintf("doc-%d", local) }

// TestPartialRoundTrip writes partials and reads them back: the same values
// bit for bit, every row named by its id, and the same bytes when written
// twice.
func TestPartialRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name        string
		queries     int
		first, rows int64
	}{
		{"first shard", 40, 0, 500},
		{"later shard", 40, 1_000_000, 300},
		{"one row", 3, 7, 1},
		{"no queries", 0, 0, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			partials := samplePartials(tc.queries, tc.first, int(tc.rows), 1)
			a, err := EncodePartials(partials, tc.first, int(tc.rows), shardID)
			if err != nil {
				t.Fatal(err)
			}
			if b, _ := EncodePartials(partials, tc.first, int(tc.rows), shardID); !bytes.Equal(a, b) {
				t.Error("the same partials written twice differ")
			}
			got, ids, err := DecodePartials(a, "tile", tc.queries)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, partials) && !(len(got) == 0 && len(partials) == 0) {
				t.Errorf("read back %+v\nwant %+v", got, partials)
			}
			// DeepEqual takes -0 for 0: written again, the bits must agree too.
			if c, _ := EncodePartials(got, tc.first, int(tc.rows), shardID); !bytes.Equal(c, a) {
				t.Error("partials read back write different bytes")
			}
			for _, p := range got {
				EachRow(p, func(r int64) error {
					if id, _ := ids.ID(r); id != shardID(int(r-tc.first)) {
						t.Errorf("row %d named %q, want %q", r, id, shardID(int(r-tc.first)))
					}
					return nil
				})
			}
		})
	}
}

// TestPartialRefused checks that a damaged or foreign partial is an error
// naming the file, never partials read wrong.
func TestPartialRefused(t *testing.T) {
	partials := samplePartials(30, 100, 200, 2)
	good, err := EncodePartials(partials, 100, 200, shardID)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := zstdDecoder.DecodeAll(good, decodeBuffer(good))
	if err != nil {
		t.Fatal(err)
	}
	pack := func(b []byte) []byte { return zstdEncoder.EncodeAll(b, nil) }
	for _, tc := range []struct {
		name, want string
		data       []byte
		queries    int
	}{
		{"not zstd", "tile-x", []byte("PAR1 not a partial"), 30},
		{"other query count", "30 queries, want 31", good, 31},
		{"other version", "partial version 9", pack(append([]byte{9}, raw[1:]...)), 30},
		{"cut short", "ends early", pack(raw[:len(raw)/2]), 30},
		{"bytes after the end", "bytes after the last query", pack(append(bytes.Clone(raw), 0)), 30},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := DecodePartials(tc.data, "tile-x", tc.queries)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "tile-x") {
				t.Errorf("got %v, want an error naming tile-x and saying %q", err, tc.want)
			}
		})
	}
	t.Run("row outside the shard", func(t *testing.T) {
		_, err := EncodePartials(partials, 150, 200, shardID)
		if err == nil || !strings.Contains(err.Error(), "outside the shard") {
			t.Errorf("got %v, want a row outside the shard refused", err)
		}
	})
}

// TestPruneTables checks that the id tables of a block lose the rows no merged
// result holds once they are more than twice the results, and keep every row
// a result holds.
func TestPruneTables(t *testing.T) {
	table := func(rows ...int64) *IDTable {
		tb := &IDTable{Rows: rows}
		for _, r := range rows {
			tb.IDs = append(tb.IDs, fmt.Sprint("id", r))
		}
		return tb
	}
	merged := []miner.Partial{{Top: []miner.Candidate{{Row: 3}, {Row: 12}}}, {Easy: []miner.Drawn{{Row: 14}}}}
	small := []*IDTable{table(1, 2, 3), table(12, 13, 14)}
	PruneTables(small, merged, 64)
	if len(small[0].Rows)+len(small[1].Rows) != 6 {
		t.Errorf("tables of 6 rows for 3 results were pruned: %v %v", small[0].Rows, small[1].Rows)
	}
	var many []int64
	for r := range int64(40) {
		many = append(many, r)
	}
	big := []*IDTable{table(many...), table(40, 41)}
	PruneTables(big, []miner.Partial{{Top: []miner.Candidate{{Row: 3}, {Row: 41}}, Positives: []miner.Candidate{{Row: 7}}}}, 64)
	if !slices.Equal(big[0].Rows, []int64{3, 7}) || !slices.Equal(big[1].Rows, []int64{41}) {
		t.Errorf("pruned to %v %v, want [3 7] [41]", big[0].Rows, big[1].Rows)
	}
	if id, _ := big[0].ID(7); id != "id7" {
		t.Errorf("row 7 named %q after the prune, want id7", id)
	}
}
