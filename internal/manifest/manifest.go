// Package manifest is the layout of _manifest.json, which describes a
// finished output (what was mined, from what, how, with what result), and of
// the statistics Rebalance leaves for Finalize to put in it
// (docs/design.md, "Manifest and success marker").
package manifest

import (
	"runtime/debug"
	"time"

	"github.com/hardneg/hardneg/internal/job"
	"github.com/hardneg/hardneg/miner"
	"github.com/hardneg/hardneg/workflows"
)

// Manifest is _manifest.json: what was mined, from what, how, with what result.
type Manifest struct {
	Program      Program        `json:"program"`
	Spec         workflows.Spec `json:"spec"`
	Fingerprint  string         `json:"fingerprint"`
	OutputFormat string         `json:"output_format"` // the format the parts are in
	RangeMax     int            `json:"range_max"`     // effective
	MaxPositives int            `json:"max_positives"`
	Dim          int            `json:"dim"`
	Inputs       Inputs         `json:"inputs"`
	Statistics   Stats          `json:"statistics"`
	Parts        []string       `json:"parts"`
	Phases       []Phase        `json:"phases"`
}

// Program names the program that wrote the output.
type Program struct {
	Name     string `json:"name"`
	Version  string `json:"version"`
	Revision string `json:"revision,omitempty"`
	Go       string `json:"go"`
}

// Inputs are the input shards a job read, in the plan's order.
type Inputs struct {
	CorpusRows int64       `json:"corpus_rows"`
	QueryRows  int64       `json:"query_rows"`
	Corpus     []job.Shard `json:"corpus"`
	Queries    []job.Shard `json:"queries,omitempty"`
}

// Phase is one phase of the job (plan, mine, merge, rebalance) and when it ran.
type Phase struct {
	Name    string    `json:"name"`
	Start   time.Time `json:"start"`
	End     time.Time `json:"end"`
	Seconds float64   `json:"seconds"`
}

// MostFrequentShown is how many of the most frequent negatives the manifest lists.
const MostFrequentShown = 20

// Stats is what Rebalance leaves for Finalize: the figures of the manifest.
type Stats struct {
	Queries          int64              `json:"queries"`
	Rows             int64              `json:"rows"`
	PossibleRows     int64              `json:"rows_possible"`
	Parts            int                `json:"parts"`
	HardNegatives    int64              `json:"hard_negatives"`
	EasyNegatives    int64              `json:"easy_negatives"`
	ShortHard        int64              `json:"queries_short_of_hard_negatives"`
	ShortRows        int64              `json:"queries_short_of_negatives"`
	NoAnchor         int64              `json:"queries_without_anchor"`
	Capped           int64              `json:"capped_by_max_negative_frequency"`
	MissingPositives int64              `json:"positives_not_in_corpus"`
	Removed          map[string]int64   `json:"candidates_removed"`
	Scores           map[string]Summary `json:"scores"`
	MostFrequent     []Frequent         `json:"most_frequent_negatives"`
	Table            string             `json:"table"`
}

// Summary summarises a set of scores.
type Summary struct {
	Count  int64   `json:"count"`
	Mean   float64 `json:"mean"`
	Std    float64 `json:"std"`
	Min    float64 `json:"min"`
	Q25    float64 `json:"q25"`
	Median float64 `json:"median"`
	Q75    float64 `json:"q75"`
	Max    float64 `json:"max"`
}

// Frequent is a negative that many queries were given, and how many.
type Frequent struct {
	ID    string `json:"id"`
	Row   int64  `json:"row"`
	Count int64  `json:"count"`
}

// Summarise fills sf from stats: the counts, the candidates removed by each
// filter, the score summaries, the most frequent negatives top (named by
// their ids, by corpus row) and the table of the selection sel.
func (sf *Stats) Summarise(stats *miner.Stats, sel miner.Selection, top []miner.Frequency, ids map[int64]string) {
	sf.Queries, sf.ShortHard, sf.ShortRows = stats.Queries, stats.ShortHard, stats.ShortRows
	sf.NoAnchor, sf.Capped = stats.NoAnchor, stats.Capped
	rm := stats.Removed
	sf.Removed = map[string]int64{
		"pool": rm.Pool, "positive": rm.Positive, "absolute_margin": rm.AbsoluteMargin,
		"relative_margin": rm.RelativeMargin, "max_score": rm.MaxScore, "min_score": rm.MinScore,
		"range_max": rm.RangeMax, "range_min": rm.RangeMin,
	}
	sf.Scores = map[string]Summary{}
	for name, s := range map[string]*miner.Scores{
		"positive": &stats.Positive, "negative": &stats.Negative, "easy": &stats.Easy, "difference": &stats.Difference,
	} {
		m := s.Summary()
		sf.Scores[name] = Summary{Count: m.Count, Mean: m.Mean, Std: m.Std, Min: m.Min, Q25: m.Q25, Median: m.Median, Q75: m.Q75, Max: m.Max}
	}
	for _, f := range top {
		sf.MostFrequent = append(sf.MostFrequent, Frequent{ID: ids[f.Row], Row: f.Row, Count: f.Count})
	}
	sf.Table = stats.Table(sel)
}

// BuildInfo names this program: its module version and VCS revision.
func BuildInfo() Program {
	p := Program{Name: "hardneg", Version: "(devel)"}
	if bi, ok := debug.ReadBuildInfo(); ok {
		p.Go = bi.GoVersion
		if bi.Main.Version != "" {
			p.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				p.Revision = s.Value
			}
		}
	}
	return p
}
