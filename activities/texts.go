package activities

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/hardneg/hardneg/dataset"
	"github.com/hardneg/hardneg/internal/job"
	"github.com/hardneg/hardneg/internal/reader"
	"github.com/hardneg/hardneg/storage"
	"github.com/hardneg/hardneg/workflows"
)

// docRows are the global corpus rows of one query's output documents, in
// the order of its PartRow's positives and negatives.
type docRows struct {
	positives, negatives []int64
}

// writePart encodes block b's rows in the spec's output format, with the
// texts when the spec names a text column, stores the part and returns how
// many rows it holds.
func (a *Activities) writePart(ctx context.Context, p *job.Plan, out storage.Store, b int, rows []dataset.PartRow, docs []docRows) (int64, error) {
	var buf bytes.Buffer
	n, err := a.encodePart(ctx, &buf, p, b, rows, docs)
	if err != nil {
		return 0, fmt.Errorf("encode %s: %w", job.PartKey(b), err)
	}
	if err := out.Put(ctx, job.PartKey(b), &buf); err != nil {
		return 0, fmt.Errorf("write %s: %w", job.PartKey(b), err)
	}
	return n, nil
}

// encodePart writes block b's part to w and returns its rows.
func (a *Activities) encodePart(ctx context.Context, w io.Writer, p *job.Plan, b int, rows []dataset.PartRow, docs []docRows) (int64, error) {
	txt, err := a.partTexts(ctx, p, b, docs)
	if err != nil {
		return 0, err
	}
	if workflows.TrainingFormat(p.Spec.OutputFormat) {
		return dataset.WriteTraining(w, trainingRows(rows, docs, txt), trainingLayout(p))
	}
	n := dataset.PartRows(rows, p.Spec.OutputFormat)
	if txt == nil {
		return n, dataset.WritePart(w, rows, p.Spec.OutputFormat, p.QueryIDKind, p.IDKind)
	}
	for q := range rows {
		rows[q].QueryText = txt.query(q)
		rows[q].PositiveTexts, rows[q].NegativeTexts = txt.docs(docs[q].positives), txt.docs(docs[q].negatives)
	}
	return n, dataset.WriteGroupedTexts(w, rows, p.QueryIDKind, p.IDKind)
}

// partTextSet holds the texts of one block's part.
type partTextSet struct {
	first          int64 // the block's first global query row
	queries, texts map[int64]string
}

func (t *partTextSet) query(q int) string { return t.queries[t.first+int64(q)] }

func (t *partTextSet) docs(rows []int64) []string {
	s := make([]string, len(rows))
	for i, r := range rows {
		s[i] = t.texts[r]
	}
	return s
}

// partTexts reads the texts of block b's part, or returns nil when the spec
// names no text column.
func (a *Activities) partTexts(ctx context.Context, p *job.Plan, b int, docs []docRows) (*partTextSet, error) {
	if p.Spec.TextColumn == "" {
		return nil, nil
	}
	lo, hi, err := p.BlockRange(b)
	if err != nil {
		return nil, err
	}
	var rows []int64
	for _, d := range docs {
		rows = append(append(rows, d.positives...), d.negatives...)
	}
	qt, ct, err := reader.BlockTexts(ctx, a.source(), p, lo, hi, rows)
	if err != nil {
		return nil, err
	}
	return &partTextSet{first: lo, queries: qt, texts: ct}, nil
}

// trainingRows returns a block's rows for one of sentence-transformers'
// formats: with texts from txt, or with the ids standing in for them when
// txt is nil.
func trainingRows(rows []dataset.PartRow, docs []docRows, txt *partTextSet) []dataset.TrainingRow {
	out := make([]dataset.TrainingRow, len(rows))
	for q, r := range rows {
		out[q] = dataset.TrainingRow{Anchor: r.QueryID, Positives: r.PositiveIDs, PositiveScores: r.PositiveScores,
			Negatives: r.NegativeIDs, NegativeScores: r.NegativeScores}
		if txt != nil {
			out[q].Anchor = txt.query(q)
			out[q].Positives, out[q].Negatives = txt.docs(docs[q].positives), txt.docs(docs[q].negatives)
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

func kindOf(name string) dataset.Kind {
	if name == dataset.Int64.String() {
		return dataset.Int64
	}
	return dataset.String
}
