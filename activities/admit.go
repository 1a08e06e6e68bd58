package activities

import (
	"fmt"

	"github.com/hardneg/hardneg/internal/admission"
	"github.com/hardneg/hardneg/internal/job"
	"github.com/hardneg/hardneg/miner"
)

// admissionJob is what the memory estimates need of a planned job.
func admissionJob(p *job.Plan, sel miner.Selection) admission.Job {
	var shardRows int64
	for _, s := range p.Corpus {
		shardRows = max(shardRows, s.Rows)
	}
	return admission.Job{
		Dim: p.Dim, QueryRows: p.QueryRows, CorpusRows: p.CorpusRows, MaxShardRows: shardRows,
		QueryBlockRows: int64(p.Spec.QueryBlockRows), RangeMin: sel.RangeMin, RangeMax: sel.RangeMax,
		MaxPositives: sel.MaxPositives, NumNegatives: sel.NumNegatives, EasyNegatives: sel.EasyNegatives,
	}
}

// admit refuses, non-retryably, a job whose tile, merge or rebalance would
// not fit in a.MemoryBudget (admission.Admit). Plan calls it before it
// writes the plan.
func (a *Activities) admit(p *job.Plan, sel miner.Selection) error {
	if err := admission.Admit(admissionJob(p, sel), a.MemoryBudget); err != nil {
		return invalid(err.Error())
	}
	return nil
}

// admitTile refuses a tile this worker cannot hold: a worker with less
// memory than the one that planned the job must not start it and be killed.
func (a *Activities) admitTile(p *job.Plan, block, shard int) error {
	sel, err := p.Selection()
	if err != nil {
		return classify(err)
	}
	j := admissionJob(p, sel)
	if err := admission.AdmitTile(j, a.MemoryBudget); err != nil {
		return invalid(fmt.Sprintf("tile b%d s%d: %v", block, shard, err))
	}
	a.setCacheLimits(j)
	return nil
}

// setCacheLimits bounds the process's caches of decoded query blocks and
// corpus shards for the tile about to run: QueryCacheBytes and
// ShardCacheBytes where set, else what the memory budget leaves beside j's
// peak (admission.CacheBytes). The limits are the process's, so they follow
// the job of the last tile admitted.
func (a *Activities) setCacheLimits(j admission.Job) {
	q, s := a.QueryCacheBytes, a.ShardCacheBytes
	if q == 0 && s == 0 {
		q = admission.CacheBytes(j, a.MemoryBudget)
		s = q
	}
	a.queries.SetLimit(q)
	a.shards.SetLimit(s)
}
