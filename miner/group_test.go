package miner

import (
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/hardneg/hardneg/miner/internal/kernel"
)

// TestChunkGroups runs enough queries that the work items hold several
// query chunks (groupChunks), the last ones single chunks, over many
// sub-blocks:
// exact and quantized (every int8 engine) equal the brute-force reference,
// ties included, with one and two workers.
func TestChunkGroups(t *testing.T) {
	defer func(p, s int) { packBytes, subBytes = p, s }(packBytes, subBytes)
	packBytes, subBytes = 16<<10, 4<<10
	r := rand.New(rand.NewPCG(21, 22))
	q, c := genMatrix(r, 790, 16, genTies), genMatrix(r, 500, 16, genTies)
	scores := refScores(q, c)
	for _, workers := range []int{1, 2} {
		s := newSearch(&Tile{Queries: q, Corpus: c, K: 30, Workers: workers}, false)
		starts := s.groups()
		n := len(starts) - 1
		if starts[0] != 0 || starts[n] != s.chunks() || starts[1] != groupChunks || starts[n-1] != s.chunks()-1 {
			t.Fatalf("%d workers, %d chunks: items start at %v; the test needs a whole group first and single chunks last", workers, s.chunks(), starts)
		}
		for g := range n {
			if d := starts[g+1] - starts[g]; d < 1 || d > groupChunks {
				t.Fatalf("%d workers: item %d holds %d chunks (%v)", workers, g, d, starts)
			}
		}
		for _, qe := range append([]*kernel.QEngine{nil}, kernel.QEngines()...) {
			tile := Tile{Queries: q, Corpus: c, K: 30, Workers: workers}
			name := "exact"
			if qe != nil {
				tile.Precision, name = Quantized, qe.Name
			}
			var got []Partial
			var err error
			withQuantEngine(qe, func() { got, err = SearchTile(tile) })
			if err != nil {
				t.Fatal(err)
			}
			for i := range got {
				if want := refTop(scores[i], 0, 30, nil); !reflect.DeepEqual(got[i].Top, want) {
					t.Fatalf("%s, %d workers, query %d: top differs from the reference", name, workers, i)
				}
			}
		}
	}
}
