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
// est is the job's memory estimate.
func (a *Activities) admitTile(p *job.Plan, block, shard int) (est admission.Estimate, err error) {
	sel, err := p.Selection()
	if err != nil {
		return est, classify(err)
	}
	j := admissionJob(p, sel)
	if err := admission.AdmitTile(j, a.MemoryBudget); err != nil {
		return est, invalid(fmt.Sprintf("tile b%d s%d: %v", block, shard, err))
	}
	return j.Estimate(), nil
}
