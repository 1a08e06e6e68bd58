package workflows

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
)

// ProgressQuery is the name of the query that returns a job's Progress.
const ProgressQuery = "progress"

// Typed search attributes of a job. A cluster must have them registered (the
// dev server is started with --search-attribute NAME=TYPE for each of
// SearchAttributeTypes).
var (
	SearchAttrRun      = temporal.NewSearchAttributeKeyKeyword("HardnegRun")
	SearchAttrEpoch    = temporal.NewSearchAttributeKeyInt64("HardnegEpoch")
	SearchAttrPhase    = temporal.NewSearchAttributeKeyKeyword("HardnegPhase")
	SearchAttrProgress = temporal.NewSearchAttributeKeyFloat64("HardnegProgress")
)

// SearchAttributeTypes maps each search attribute a job sets to its type name as
// the temporal CLI spells it (temporal operator search-attribute create --type).
var SearchAttributeTypes = map[string]string{
	"HardnegRun":      "Keyword",
	"HardnegEpoch":    "Int",
	"HardnegPhase":    "Keyword",
	"HardnegProgress": "Double",
}

// Phases of a job, in order, as HardnegPhase and Progress.Phase show them.
const (
	PhaseQueued    = "queued" // set by StartOptions, before the workflow runs
	PhasePlan      = "plan"
	PhaseMine      = "mine"
	PhaseMerge     = "merge"
	PhaseRebalance = "rebalance"
	PhaseFinalize  = "finalize"
	PhaseDone      = "done"
	PhaseFailed    = "failed"
)

// Progress is the answer to the progress query.
type Progress struct {
	Run   string `json:"run"`
	Epoch int    `json:"epoch"`
	Phase string `json:"phase"`
	// Fraction is the whole job's progress from 0 to 1 (HardnegProgress).
	Fraction     float64   `json:"fraction"`
	TilesTotal   int       `json:"tiles_total"`
	TilesDone    int       `json:"tiles_done"` // mined or skipped
	TilesSkipped int       `json:"tiles_skipped"`
	BlocksTotal  int       `json:"blocks_total"`
	BlocksMerged int       `json:"blocks_merged"`
	QueryRows    int64     `json:"query_rows"`
	RowsMerged   int64     `json:"rows_merged"` // query rows whose candidates are merged
	CorpusRows   int64     `json:"corpus_rows"`
	Started      time.Time `json:"started"`
	// ElapsedSeconds is the time since the job started, as of the workflow's
	// last step.
	ElapsedSeconds float64 `json:"elapsed_seconds"`
	// EstimatedSecondsLeft extrapolates the mining rate so far to the tiles
	// left; nil until a tile has been mined.
	EstimatedSecondsLeft *float64    `json:"estimated_seconds_left,omitempty"`
	Phases               []PhaseTime `json:"phases"`
	// Waiting says why the job is not moving while it waits for a store that
	// does not answer ("waiting for storage, attempt 4: output s3://…:
	// store does not answer: … connection refused"); empty otherwise.
	Waiting string `json:"waiting,omitempty"`
	// Reused is true when the job found the finished result of the same
	// inputs in the output and returned it without mining (Result.Reused).
	Reused bool `json:"reused,omitempty"`
}

// fraction maps a phase and the tile and block counts to the whole job's
// progress. Mining and merging are most of a job; the weights only have to be
// monotonic and plausible.
func fraction(phase string, tilesDone, tiles, merged, blocks int) float64 {
	switch phase {
	case PhaseQueued, PhasePlan:
		return 0
	case PhaseMine, PhaseMerge:
		if tiles+blocks == 0 {
			return 0.02
		}
		return 0.02 + 0.88*float64(tilesDone+merged)/float64(tiles+blocks)
	case PhaseRebalance:
		return 0.90
	case PhaseFinalize:
		return 0.97
	case PhaseDone:
		return 1
	}
	return 0
}

// Markdown renders p as the workflow's current details: a small table the
// Temporal UI shows on the workflow's page.
func (p Progress) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "**hardneg** run `%s` epoch %d: phase **%s**, %.1f%%\n\n", p.Run, p.Epoch, p.Phase, 100*p.Fraction)
	b.WriteString("| | done | total |\n|---|---:|---:|\n")
	fmt.Fprintf(&b, "| tiles | %d | %d |\n", p.TilesDone, p.TilesTotal)
	fmt.Fprintf(&b, "| tiles skipped (checkpointed) | %d | |\n", p.TilesSkipped)
	fmt.Fprintf(&b, "| blocks merged | %d | %d |\n", p.BlocksMerged, p.BlocksTotal)
	fmt.Fprintf(&b, "| query rows merged | %d | %d |\n", p.RowsMerged, p.QueryRows)
	fmt.Fprintf(&b, "| corpus rows | | %d |\n", p.CorpusRows)
	fmt.Fprintf(&b, "\nElapsed %s", round(p.ElapsedSeconds))
	if p.EstimatedSecondsLeft != nil {
		fmt.Fprintf(&b, ", about %s of mining left", round(*p.EstimatedSecondsLeft))
	}
	b.WriteString(".\n")
	if p.Reused {
		b.WriteString("\n**Reused**: the output already held the finished result of these inputs; nothing was mined or written.\n")
	}
	if p.Waiting != "" {
		fmt.Fprintf(&b, "\n**%s**\n", p.Waiting)
	}
	return b.String()
}

func round(seconds float64) time.Duration {
	return time.Duration(seconds * float64(time.Second)).Round(time.Second)
}
