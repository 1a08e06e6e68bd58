package miner_test

import (
	"fmt"

	"github.com/hardneg/hardneg/miner"
)

// Mining one query block against a corpus cut into two shards, in pairs
// mode with a relative margin (NV-Retriever's TopK-PercPos 95%).
func Example() {
	corpus := miner.Matrix{Rows: 6, Dim: 2, Data: []float32{
		1, 0, // 0: the positive
		0.99, 0.1, // 1: nearly the positive: a probable false negative
		0.8, 0.6, // 2
		0.6, 0.8, // 3
		0, 1, // 4
		-1, 0, // 5
	}}
	queries := miner.Matrix{Rows: 1, Dim: 2, Data: []float32{1, 0}}
	miner.Normalize(corpus)
	miner.Normalize(queries)

	margin := 0.05
	plan, err := miner.Params{Mode: miner.ModePairs, NumNegatives: 2, RelativeMargin: &margin}.Resolve(1)
	if err != nil {
		fmt.Println(err)
		return
	}
	var parts []miner.Partial
	for _, shard := range [][2]int{{0, 3}, {3, 6}} {
		res, err := miner.SearchTile(miner.Tile{
			Queries:   queries,
			Corpus:    corpus.Slice(shard[0], shard[1]),
			Base:      int64(shard[0]),
			K:         plan.PoolSize(),
			Positives: [][]int64{{0}},
		})
		if err != nil {
			fmt.Println(err)
			return
		}
		parts = append(parts, res[0])
	}
	merged := miner.Merge(plan.PoolSize(), parts...)
	seed := miner.QuerySeed(1, "run", 0, "q0")
	row := plan.NewPicker().Pick(plan.Window(merged, seed))
	for _, n := range row.Negatives {
		fmt.Printf("row %d score %.2f %s rank %d\n", n.Row, n.Score, n.Kind, n.Rank)
	}
	fmt.Printf("removed by relative_margin: %d\n", row.Removed.RelativeMargin)
	// Output:
	// row 2 score 0.80 hard rank 2
	// row 3 score 0.60 hard rank 3
	// removed by relative_margin: 1
}
