package activities

import (
	"bytes"
	"context"
	"fmt"

	"github.com/hardneg/hardneg/dataset"
	"github.com/hardneg/hardneg/internal/job"
	"github.com/hardneg/hardneg/internal/part"
	"github.com/hardneg/hardneg/internal/reader"
	"github.com/hardneg/hardneg/storage"
)

// writePart encodes block b's rows in the spec's output format, with the
// texts when the spec names a text column, stores the part and returns how
// many rows it holds.
func (a *Activities) writePart(ctx context.Context, p *job.Plan, out storage.Store, b int, rows []dataset.PartRow, docs []part.Docs) (int64, error) {
	var buf bytes.Buffer
	txt, err := a.partTexts(ctx, p, b, docs)
	var n int64
	if err == nil {
		n, err = part.Encode(&buf, p, rows, docs, txt)
	}
	if err != nil {
		return 0, fmt.Errorf("encode %s: %w", job.PartKey(b), err)
	}
	if err := out.Put(ctx, job.PartKey(b), &buf); err != nil {
		return 0, fmt.Errorf("write %s: %w", job.PartKey(b), err)
	}
	return n, nil
}

// partTexts reads the texts of block b's part, or returns nil when the spec
// names no text column.
func (a *Activities) partTexts(ctx context.Context, p *job.Plan, b int, docs []part.Docs) (*part.Texts, error) {
	if p.Spec.TextColumn == "" {
		return nil, nil
	}
	lo, hi, err := p.BlockRange(b)
	if err != nil {
		return nil, err
	}
	qt, ct, err := reader.BlockTexts(ctx, a.source(), p, lo, hi, part.DocRows(docs))
	if err != nil {
		return nil, err
	}
	return &part.Texts{First: lo, Queries: qt, Docs: ct}, nil
}
