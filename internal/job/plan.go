// Package job holds what the activities of one job share through its output
// store: the plan file (Plan, Shard) that the Plan activity writes and every
// other activity reads, the fingerprint of the inputs, the arithmetic of the
// plan's query blocks, and the keys of the output store (docs/design.md,
// "Checkpoints under _work/"). It reads and writes nothing: no store, no
// Parquet, no Temporal beyond the types of package workflows.
package job

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/hardneg/hardneg/miner"
	"github.com/hardneg/hardneg/workflows"
)

// Format versions the plan and every checkpoint format. It is part of the
// fingerprint, so a program that writes checkpoints differently never reads
// those of an older one.
const Format = 3

// Plan is the plan file of a job: written once by the Plan activity under
// PlanKey, read by every other activity.
type Plan struct {
	Format      int            `json:"format"`
	Fingerprint string         `json:"fingerprint"`
	Spec        workflows.Spec `json:"spec"`
	Corpus      []Shard        `json:"corpus"`
	// Queries is empty in self mode, where the queries are the corpus rows.
	Queries      []Shard `json:"queries,omitempty"`
	Dim          int     `json:"dim"`
	IDKind       string  `json:"id_kind"` // of the corpus ids: "string" or "int64"
	QueryIDKind  string  `json:"query_id_kind"`
	CorpusRows   int64   `json:"corpus_rows"`
	QueryRows    int64   `json:"query_rows"`
	MaxPositives int     `json:"max_positives"`
	Blocks       int     `json:"blocks"`
}

// Shard is one input shard of a plan: its object and where its rows sit in
// the global order.
type Shard struct {
	Key   string `json:"key"` // relative to the corpus or queries prefix
	Size  int64  `json:"size"`
	ETag  string `json:"etag"`
	Rows  int64  `json:"rows"`
	First int64  `json:"first"` // global row of its row 0
}

// QueryShards returns the shards the queries come from, and the URI prefix
// they are under: the corpus's in self mode.
func (p *Plan) QueryShards() ([]Shard, string) {
	if len(p.Queries) == 0 {
		return p.Corpus, p.Spec.Corpus
	}
	return p.Queries, p.Spec.Queries
}

// Selection resolves the selection parameters of the plan's spec.
func (p *Plan) Selection() (miner.Selection, error) {
	return MinerParams(p.Spec).Resolve(p.MaxPositives)
}

// BlockRange returns the global query rows [lo, hi) of block b, or an error
// when b holds none of the plan's query rows.
func (p *Plan) BlockRange(b int) (lo, hi int64, err error) {
	if lo, hi = workflows.BlockRange(p.Spec, p.QueryRows, b); lo >= hi {
		return 0, 0, fmt.Errorf("block %d is outside the plan's %d query rows", b, p.QueryRows)
	}
	return lo, hi, nil
}

// MinerParams are the miner's parameters of a spec.
func MinerParams(s workflows.Spec) miner.Params {
	return miner.Params{
		Mode:                 miner.Mode(s.Mode()),
		NumNegatives:         s.NumNegatives,
		RangeMin:             s.RangeMin,
		RangeMax:             s.RangeMax,
		MaxScore:             s.MaxScore,
		MinScore:             s.MinScore,
		AbsoluteMargin:       s.AbsoluteMargin,
		RelativeMargin:       s.RelativeMargin,
		Sampling:             miner.Sampling(s.SamplingStrategy),
		EasyNegatives:        s.EasyNegatives,
		FillWithEasy:         s.FillWithEasy,
		MaxNegativeFrequency: s.MaxNegativeFrequency,
		IncludePositives:     s.IncludePositives,
	}
}

// Fingerprint hashes every input shard's key, size and ETag with the spec
// fields that affect results. The output, max_parallel, precision (exact
// either way) and force are left out, so changing them reuses the checkpoints
// and a finished output. The spec has its defaults applied, and encodes with
// the fields at their zero value left out, so a field sent at its default and
// one not sent give the same fingerprint. The Finished activity computes it
// from the listings alone: it must depend on nothing else.
func Fingerprint(p *Plan) string {
	s := p.Spec
	s.Output, s.MaxParallel, s.Precision, s.Force = "", 0, "", false
	h := sha256.New()
	fmt.Fprintf(h, "hardneg plan format %d\n", Format)
	spec, _ := json.Marshal(s) // a Spec always marshals
	h.Write(spec)
	for _, g := range []struct {
		name   string
		shards []Shard
	}{{"corpus", p.Corpus}, {"queries", p.Queries}} {
		for _, sh := range g.shards {
			fmt.Fprintf(h, "\n%s\t%q\t%d\t%q", g.name, sh.Key, sh.Size, sh.ETag)
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:24]
}

// InvalidError is bad input that retrying cannot fix (a shard that changed
// after the plan, shards that disagree, an id two shards share). Its message
// names the shard, column and row to fix, and is the whole message the job
// fails with: the activities turn it into a non-retryable InvalidInput error
// of that message.
type InvalidError struct{ Msg string }

// Error returns the message.
func (e *InvalidError) Error() string { return e.Msg }

// Invalid returns an *InvalidError of message msg.
func Invalid(msg string) error { return &InvalidError{Msg: msg} }
