package activities

import (
	"fmt"
	"sync"

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
// An admitted tile counts its job's peak as held until release is called
// (hold); est is its job's estimate.
func (a *Activities) admitTile(p *job.Plan, block, shard int) (est admission.Estimate, release func(), err error) {
	sel, err := p.Selection()
	if err != nil {
		return est, nil, classify(err)
	}
	j := admissionJob(p, sel)
	if err := admission.AdmitTile(j, a.MemoryBudget); err != nil {
		return est, nil, invalid(fmt.Sprintf("tile b%d s%d: %v", block, shard, err))
	}
	est = j.Estimate()
	peak, _ := est.Peak()
	return est, a.hold(peak), nil
}

// holdJob counts p's peak as held (hold) until release is called: a merge or
// the rebalance of p running on this worker leaves the caches that much less
// room. est is p's estimate.
func (a *Activities) holdJob(p *job.Plan, sel miner.Selection) (est admission.Estimate, release func()) {
	est = admissionJob(p, sel).Estimate()
	peak, _ := est.Peak()
	return est, a.hold(peak)
}

// hold adds peak, the peak of a running tile's, merge's or rebalance's job,
// to what the running steps hold until release is called, and bounds the
// caches by what is left each time (setCacheLimits): a step of a large job
// shrinks them, at once, before it reads, even when a small job's tiles left
// room for them.
func (a *Activities) hold(peak int64) (release func()) {
	a.mu.Lock()
	a.held += peak
	a.setCacheLimits(a.held)
	a.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			a.mu.Lock()
			a.held -= peak
			a.setCacheLimits(a.held)
			a.mu.Unlock()
		})
	}
}

// setCacheLimits bounds the process's caches of decoded query blocks and
// corpus shards: QueryCacheBytes and ShardCacheBytes where set, else what
// the memory budget leaves beside the running steps' jobs' peaks, held
// (admission.CacheBytes). The caller holds a.mu.
func (a *Activities) setCacheLimits(held int64) {
	q, s := a.QueryCacheBytes, a.ShardCacheBytes
	if q == 0 && s == 0 {
		q = admission.CacheBytes(a.MemoryBudget, held)
		s = q
	}
	a.queries.SetLimit(q)
	a.shards.SetLimit(s)
}
