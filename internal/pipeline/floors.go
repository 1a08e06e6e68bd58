package pipeline

import (
	"slices"
	"sync"

	"github.com/hardneg/hardneg/miner"
)

// floorBlocksKept bounds the query blocks whose floors a process keeps: a
// few hundred KB each at most, and a worker moves on to new blocks as a job
// goes on.
const floorBlocksKept = 64

// FloorBook keeps, for each query block a process has mined tiles of, every
// query's floor (miner.Tile.Floor): the best k-th score its tiles found so far.
// A later tile of the block starts from it and leaves out the candidates that
// the block's merge would drop anyway, which spares most of the work of
// filling a fresh list per tile (a tile of the whole corpus would fill one).
//
// Floors only raise: any k-th best of some shards is at most the k-th best of
// the whole corpus, so a floor from any tile that was searched, in any order,
// whether or not its partial was then written, leaves the merge unchanged. A
// tile's partial therefore depends on what its worker searched before; the
// merged blocks and the output do not.
type FloorBook struct {
	mu     sync.Mutex
	blocks map[string][]float32
	order  []string // least recent first
}

// Get returns a copy of the floors of block key, or nil when there are none.
func (f *FloorBook) Get(key string) []float32 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.blocks[key])
}

// Raise raises the floors of block key with a tile's partials, one per query.
func (f *FloorBook) Raise(key string, k int, partials []miner.Partial) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.blocks == nil {
		f.blocks = map[string][]float32{}
	}
	floor, ok := f.blocks[key]
	if !ok {
		floor = miner.NoFloors(len(partials))
		f.blocks[key] = floor
	}
	if len(floor) != len(partials) {
		return // a different cut of the block: not this plan's
	}
	miner.RaiseFloors(floor, k, partials)
	f.order = append(slices.DeleteFunc(f.order, func(s string) bool { return s == key }), key)
	for len(f.order) > floorBlocksKept {
		delete(f.blocks, f.order[0])
		f.order = f.order[1:]
	}
}
