package activities

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/hardneg/hardneg/dataset"
	"github.com/hardneg/hardneg/internal/checkpoint"
	"github.com/hardneg/hardneg/internal/job"
	"github.com/hardneg/hardneg/internal/pipeline"
	"github.com/hardneg/hardneg/internal/reader"
	"github.com/hardneg/hardneg/miner"
	"github.com/hardneg/hardneg/storage"
	"github.com/hardneg/hardneg/workflows"
)

// MineTile searches one query block against one corpus shard and writes the
// partial result to job.TileKey (_work/<fingerprint>/tile-bNNNNN-sNNNNN.ckpt). A
// tile whose partial exists is skipped: it was mined by an earlier attempt or
// run.
// The search starts from the floors of the block's tiles this process
// searched before (pipeline.FloorBook), and raises them.
func (a *Activities) MineTile(ctx context.Context, in workflows.TileInput) (_ workflows.TileResult, err error) {
	defer func() { err = classifyIn(in.Spec, err) }()
	res := workflows.TileResult{Block: in.Block, Shard: in.Shard}
	if err := a.checkAllowed(in.Spec); err != nil {
		return res, err
	}
	p, out, err := a.loadPlan(ctx, in.Spec, in.Fingerprint)
	if err != nil {
		return res, err
	}
	if in.Shard < 0 || in.Shard >= len(p.Corpus) || in.Block < 0 || in.Block >= p.Blocks {
		return res, invalid(fmt.Sprintf("tile b%d s%d is outside the plan (%d blocks × %d shards)", in.Block, in.Shard, p.Blocks, len(p.Corpus)))
	}
	est, err := a.admitTile(p, in.Block, in.Shard)
	if err != nil {
		return res, err
	}
	key := job.TileKey(p.Fingerprint, in.Block, in.Shard)
	if exists, err := exists(ctx, out, key); err != nil || exists {
		res.Skipped = exists
		if exists {
			a.count(MetricTiles, map[string]string{"result": "skipped"}, 1)
		}
		return res, err
	}

	r := &tileRun{a: a, ctx: ctx, p: p, in: in, start: time.Now(),
		n: reader.Needs{Labels: p.Spec.Mode() == workflows.ModeLabeled}}
	r.phase.Store("waiting for the other tile's search")
	stop := a.heartbeat(ctx, func() any { return r.phase.Load() })
	defer stop()
	if err := r.acquire(); err != nil {
		return res, err
	}
	defer r.giveTurn()
	r.phase.Store("waiting for memory that other steps on this worker hold")
	freeMemory, err := a.waitForMemory(ctx, "tile", est.Tile)
	if err != nil {
		return res, err
	}
	defer freeMemory()
	if r.d == nil {
		if err := r.decode("read queries and corpus shard"); err != nil {
			return res, err
		}
	}
	defer r.d.release()
	if err := r.search(); err != nil {
		return res, err
	}
	if err := r.write(out, key); err != nil {
		return res, err
	}
	res.QueryRows, res.CorpusRows = int64(r.d.tile.Queries.Rows), p.Corpus[in.Shard].Rows
	r.report(res)
	return res, nil
}

// tileRun is one MineTile going through its stages: fetch → acquire → decode
// → search → write.
type tileRun struct {
	a     *Activities
	ctx   context.Context
	p     *job.Plan
	in    workflows.TileInput
	n     reader.Needs
	start time.Time
	phase atomic.Value // what the heartbeats report

	raw      pipeline.FetchedSet // fetched while waiting for the turn
	d        *tileData
	turn     bool // holds a.turns
	partials []miner.Partial
	ran      miner.Report // how the search ran

	beforeSecs, waitSecs, readSecs, searchSecs float64
}

// fetch fetches the bytes of the objects the tile will read whole (fetchTile).
func (r *tileRun) fetch() {
	r.phase.Store("fetch corpus shard and queries")
	r.raw = r.a.fetchTile(r.ctx, r.p, r.in, r.n)
}

// acquire takes the process's turn to decode and search (pipeline.Turns).
// The decoding needs the cores the search uses, and slowed a search beside
// it by more than it took alone; so while another tile searches, this one
// fetches the bytes of its data, the transfer being mostly waiting on the
// store, or, when its query block and shard are cached, takes them and
// builds its tile, a few tens of milliseconds of work. The second tile in
// flight also saves the time between tiles: it was handed out and is ready
// while the first one searches, and the first one writes its partial while
// the second one decodes.
func (r *tileRun) acquire() error {
	err := r.a.turns.Take(func() error {
		if r.a.queries.Has(queryBlockKey(r.p, r.in.Block)) && r.a.shards.Has(shardKey(r.p, r.in.Shard, r.n)) {
			if err := r.decode("take cached queries and corpus shard"); err != nil {
				return err
			}
		} else {
			r.fetch()
		}
		r.beforeSecs = time.Since(r.start).Seconds()
		r.phase.Store("waiting for the other tile's search")
		return nil
	})
	if err != nil {
		return err
	}
	r.turn = true
	r.waitSecs = time.Since(r.start).Seconds() - r.beforeSecs
	return nil
}

// giveTurn gives the turn to the next tile, once.
func (r *tileRun) giveTurn() {
	if r.turn {
		r.a.turns.Give()
		r.turn = false
	}
}

// decode reads the tile's query block and corpus shard (from the fetched
// bytes when there are some) and builds the miner's tile; the fetched bytes
// are let go of either way.
func (r *tileRun) decode(phase string) (err error) {
	r.phase.Store(phase)
	t := time.Now()
	r.d, err = r.a.readTile(r.ctx, r.p, r.in, r.n, r.raw)
	r.readSecs = time.Since(t).Seconds()
	r.a.fetches.ReleaseAll(r.raw) // decoded, or read from the store after all
	return err
}

// search searches the tile from the block's floors, gives the turn to the
// next tile and raises the floors: a shard's k-th best scores are floors
// whether or not the partial gets written (pipeline.FloorBook).
func (r *tileRun) search() (err error) {
	tile := &r.d.tile
	floorKey := queryBlockKey(r.p, r.in.Block)
	if f := r.a.floors.Get(floorKey); len(f) == tile.Queries.Rows {
		tile.Floor = f
	}
	r.phase.Store("search")
	t := time.Now()
	r.partials, r.ran, err = miner.SearchTileReport(r.ctx, *tile)
	r.searchSecs = time.Since(t).Seconds()
	r.giveTurn()
	if err != nil {
		return classify(fmt.Errorf("search tile b%d s%d: %w", r.in.Block, r.in.Shard, err))
	}
	r.a.floors.Raise(floorKey, tile.K, r.partials)
	return nil
}

// write encodes the tile's partials and writes them to key of out, unless
// the activity was cancelled: a lost attempt leaves no checkpoint.
func (r *tileRun) write(out storage.Store, key string) error {
	r.phase.Store("write partial")
	cs := r.p.Corpus[r.in.Shard]
	idOf := func(local int) string { return reader.IDText(r.d.shard.IDs, local) }
	data, err := checkpoint.EncodePartials(r.partials, cs.First, int(cs.Rows), idOf)
	if err != nil {
		return fmt.Errorf("encode partial of tile b%d s%d: %w", r.in.Block, r.in.Shard, err)
	}
	if err := r.ctx.Err(); err != nil {
		return err
	}
	if err := out.Put(r.ctx, key, bytes.NewReader(data)); err != nil {
		return fmt.Errorf("write %s: %w", key, err)
	}
	return nil
}

// report counts a mined tile and logs where its time went.
func (r *tileRun) report(res workflows.TileResult) {
	secs := time.Since(r.start).Seconds()
	r.a.count(MetricTiles, map[string]string{"result": "mined"}, 1)
	r.a.count(MetricQueryRows, nil, float64(res.QueryRows))
	r.a.count(MetricCorpusRows, nil, float64(res.CorpusRows))
	r.a.count(MetricMiningSeconds, nil, secs)
	rep := r.ran
	if rep.GaveUpAt > 0 {
		r.a.count(MetricPrefilterGaveUp, nil, 1)
	}
	r.a.logger().Info("tile mined", "block", r.in.Block, "shard", r.in.Shard, "queries", res.QueryRows,
		"corpus_rows", res.CorpusRows, "floors", r.d.tile.Floor != nil, "seconds", secs, "before_seconds", r.beforeSecs,
		"wait_seconds", r.waitSecs, "read_seconds", r.readSecs, "search_seconds", r.searchSecs,
		"prefilter", rep.Prefilter, "rescored", rep.Rescored, "prefilter_gave_up_at_row", rep.GaveUpAt, "residual_checked", rep.Checked,
		"ran_exact", rep.RanExact)
}

// tileData is what a tile reads: its query block and corpus shard, held
// until release, and the miner's tile made of them.
type tileData struct {
	qb    *reader.QueryBlock
	shard *reader.Shard
	tile  miner.Tile
}

// release lets go of what the tile holds (readTile may hold only one).
func (d *tileData) release() {
	if d.shard != nil {
		d.shard.Release()
	}
	if d.qb != nil {
		d.qb.Release()
	}
}

// readTile reads a tile's query block and corpus shard, from the objects'
// bytes in raw when they are there, and builds the miner's tile (without
// floors). The caller must release what it gets.
func (a *Activities) readTile(ctx context.Context, p *job.Plan, in workflows.TileInput, n reader.Needs, raw pipeline.FetchedSet) (*tileData, error) {
	// The query block and the shard are read at once: each is mostly waiting
	// on the store when it is remote.
	d := &tileData{}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) {
		d.qb, err = a.loadQueryBlock(gctx, p, in.Block, raw)
		return err
	})
	g.Go(func() (err error) {
		d.shard, err = a.loadShard(gctx, p, in.Shard, n, raw)
		return err
	})
	err := g.Wait()
	if err == nil {
		d.tile, err = a.buildTile(p, d.qb, d.shard, p.Corpus[in.Shard])
	}
	if err != nil {
		d.release()
		return nil, err
	}
	return d, nil
}

func exists(ctx context.Context, st storage.Store, key string) (bool, error) {
	_, err := st.Stat(ctx, key)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, storage.ErrNotExist):
		return false, nil
	default:
		return false, fmt.Errorf("stat %s: %w", key, err)
	}
}

// buildTile joins a query block and a corpus shard into the miner's tile: the
// pool size, the positives found in this shard, labels, the queries' own rows
// in self mode and the easy-negative seeds.
func (a *Activities) buildTile(p *job.Plan, qb *reader.QueryBlock, shard *reader.Shard, cs job.Shard) (miner.Tile, error) {
	sel, err := p.Selection()
	if err != nil {
		return miner.Tile{}, classify(err)
	}
	t := miner.Tile{
		Queries: qb.Emb, Corpus: shard.Emb, Base: cs.First, K: sel.PoolSize(),
		Kernel: a.Kernel, Workers: a.Workers, Precision: miner.Precision(p.Spec.Precision),
	}
	nq := qb.Emb.Rows
	switch p.Spec.Mode() {
	case workflows.ModePairs:
		t.Positives = positiveRows(qb.Positives, shard.IDs, cs.First)
	case workflows.ModeLabeled:
		codes := map[reader.ID]int32{}
		code := func(v reader.ID) int32 {
			c, ok := codes[v]
			if !ok {
				c = int32(len(codes))
				codes[v] = c
			}
			return c
		}
		t.QueryLabels = make([]int32, nq)
		for q, l := range qb.Labels {
			t.QueryLabels[q] = code(l)
		}
		t.CorpusLabels = make([]int32, shard.Labels.Len())
		for r := range t.CorpusLabels {
			t.CorpusLabels[r] = code(reader.IDAt(shard.Labels, r))
		}
	}
	if len(p.Queries) == 0 { // self mode, labeled or not: queries are corpus rows
		t.QueryRows = make([]int64, nq)
		for q := range t.QueryRows {
			t.QueryRows[q] = qb.First + int64(q)
		}
	}
	if sel.EasyNeed() > 0 {
		t.EasySeeds = querySeeds(p, qb.IDs)
		t.EasyDraws, t.CorpusRows = sel.EasyDraws(), p.CorpusRows
	}
	return t, nil
}

// querySeeds derives each query's seed from the job's seed, run, epoch and
// the query id.
func querySeeds(p *job.Plan, ids []reader.ID) []uint64 {
	seeds := make([]uint64, len(ids))
	for q, id := range ids {
		seeds[q] = miner.QuerySeed(uint64(p.Spec.Seed), p.Spec.Run, int64(p.Spec.Epoch), id.Format(p.QueryIDKind))
	}
	return seeds
}

// positiveRows finds the positives of each query among a shard's ids and
// returns their global rows (first is the shard's first row). It indexes the
// block's positives, not the shard's ids: a few per query, against a map of
// every row of the shard.
func positiveRows(positives [][]reader.ID, ids dataset.IDs, first int64) [][]int64 {
	want := map[reader.ID][]int32{} // positive id → the queries that have it
	for q, pos := range positives {
		for _, id := range pos {
			want[id] = append(want[id], int32(q))
		}
	}
	rows := make([][]int64, len(positives))
	for r := range ids.Len() {
		for _, q := range want[reader.IDAt(ids, r)] {
			rows[q] = append(rows[q], first+int64(r))
		}
	}
	return rows
}
