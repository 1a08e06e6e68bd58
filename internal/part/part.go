// Package part builds the output part of one query block: each query's row
// from the candidates Rebalance picked out of its window (Row), and the part
// in the spec's output format, with texts or without (Encode), through
// dataset's writers (docs/design.md, "Output parts"). It reads nothing.
package part

import (
	"fmt"
	"io"

	"github.com/hardneg/hardneg/dataset"
	"github.com/hardneg/hardneg/internal/checkpoint"
	"github.com/hardneg/hardneg/internal/job"
	"github.com/hardneg/hardneg/miner"
	"github.com/hardneg/hardneg/workflows"
)

// Docs are the global corpus rows of one query's output documents, in the
// order of its PartRow's positives and negatives: where their texts are.
type Docs struct {
	Positives, Negatives []int64
}

// DocRows returns every row of docs, in order, repeated or not.
func DocRows(docs []Docs) []int64 {
	var rows []int64
	for _, d := range docs {
		rows = append(append(rows, d.Positives...), d.Negatives...)
	}
	return rows
}

// Row joins a query's picked row with the ids its window carries, and
// says which corpus rows its documents are. The positives are those of the
// input found in the corpus, in input order.
func Row(qw checkpoint.QueryWindow, row miner.Row) (dataset.PartRow, Docs, error) {
	r := dataset.PartRow{QueryID: qw.ID}
	var d Docs
	r.NegativeScores, r.NegativeKinds, r.NegativeRanks = negativeColumns(row.Negatives)
	found := map[string]miner.Candidate{}
	for _, c := range row.Positives {
		id, ok := qw.IDs.ID(c.Row)
		if !ok {
			return r, d, fmt.Errorf("positive row %d has no id", c.Row)
		}
		found[id] = c
	}
	for _, id := range qw.Positives {
		if c, ok := found[id]; ok {
			r.PositiveIDs = append(r.PositiveIDs, id)
			r.PositiveScores = append(r.PositiveScores, c.Score)
			d.Positives = append(d.Positives, c.Row)
			delete(found, id) // an id listed twice is output once
		}
	}
	r.NegativeIDs, d.Negatives = make([]string, len(row.Negatives)), make([]int64, len(row.Negatives))
	for i, n := range row.Negatives {
		id, ok := qw.IDs.ID(n.Row)
		if !ok {
			return r, d, fmt.Errorf("negative row %d has no id", n.Row)
		}
		r.NegativeIDs[i], d.Negatives[i] = id, n.Row
	}
	return r, d, nil
}

// negativeColumns splits a row's negatives into the n-tuple's score, kind
// and rank columns.
func negativeColumns(negs []miner.Negative) (scores []float32, kinds []string, ranks []int32) {
	scores, kinds, ranks = make([]float32, len(negs)), make([]string, len(negs)), make([]int32, len(negs))
	for j, n := range negs {
		scores[j], kinds[j], ranks[j] = n.Score, n.Kind.String(), n.Rank
	}
	return scores, kinds, ranks
}

// PossibleRows is how many rows a query with positives found in the corpus
// would give in the spec's format if none were short of negatives, counted
// as hard_negatives.py counts its "maximum possible samples": rows_possible
// less rows is the rows lost for want of negatives. The grouped format has
// one row per query.
func PossibleRows(s workflows.Spec, positives int) int64 {
	k := int64(s.NumNegatives + s.EasyNegatives)
	switch s.OutputFormat {
	case dataset.FormatTriplet:
		return int64(positives) * k
	case dataset.FormatLabeledPair:
		if positives == 0 {
			return 0
		}
		return int64(positives) + k
	case dataset.FormatNTuple, dataset.FormatLabeledList:
		return int64(positives)
	}
	return 1
}

// Encode writes the part of a block's rows to w, in the plan's output
// format, with the texts txt when it is not nil (the spec names a text
// column), and returns how many rows it holds. docs are the rows' documents.
func Encode(w io.Writer, p *job.Plan, rows []dataset.PartRow, docs []Docs, txt *Texts) (int64, error) {
	if txt != nil {
		for q := range rows {
			rows[q].QueryText = txt.query(q)
			rows[q].PositiveTexts, rows[q].NegativeTexts = txt.docs(docs[q].Positives), txt.docs(docs[q].Negatives)
		}
	}
	if workflows.TrainingFormat(p.Spec.OutputFormat) {
		return dataset.WriteTraining(w, trainingRows(rows, txt != nil), trainingLayout(p))
	}
	n := int64(len(rows)) // grouped: one row per query
	if txt == nil {
		return n, dataset.WritePart(w, rows, kindOf(p.QueryIDKind), kindOf(p.IDKind))
	}
	return n, dataset.WriteGroupedTexts(w, rows, kindOf(p.QueryIDKind), kindOf(p.IDKind))
}

// Texts holds the texts of one block's part, by global row.
type Texts struct {
	First   int64            // the block's first global query row
	Queries map[int64]string // by global query row
	Docs    map[int64]string // by global corpus row
}

func (t *Texts) query(q int) string { return t.Queries[t.First+int64(q)] }

func (t *Texts) docs(rows []int64) []string {
	s := make([]string, len(rows))
	for i, r := range rows {
		s[i] = t.Docs[r]
	}
	return s
}

// trainingRows returns a block's rows for one of sentence-transformers'
// formats: with the rows' texts, or with the ids standing in for them.
func trainingRows(rows []dataset.PartRow, texts bool) []dataset.TrainingRow {
	out := make([]dataset.TrainingRow, len(rows))
	for q, r := range rows {
		out[q] = dataset.TrainingRow{Anchor: r.QueryID, Positives: r.PositiveIDs, PositiveScores: r.PositiveScores,
			Negatives: r.NegativeIDs, NegativeScores: r.NegativeScores}
		if texts {
			out[q].Anchor, out[q].Positives, out[q].Negatives = r.QueryText, r.PositiveTexts, r.NegativeTexts
		}
	}
	return out
}

// trainingLayout is the layout of the plan's training parts.
func trainingLayout(p *job.Plan) dataset.TrainingLayout {
	l := dataset.TrainingLayout{Format: p.Spec.OutputFormat, Scores: p.Spec.OutputScores,
		Negatives: p.Spec.NumNegatives + p.Spec.EasyNegatives, AnchorKind: dataset.String, DocKind: dataset.String}
	if p.Spec.TextColumn == "" {
		l.AnchorKind, l.DocKind = kindOf(p.QueryIDKind), kindOf(p.IDKind)
	}
	return l
}

// kindOf is the dataset.Kind of an id kind as the plan file writes it
// (Kind.String: "string" or "int64").
func kindOf(name string) dataset.Kind {
	if name == dataset.Int64.String() {
		return dataset.Int64
	}
	return dataset.String
}
