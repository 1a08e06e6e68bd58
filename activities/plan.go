package activities

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/hardneg/hardneg/dataset"
	"github.com/hardneg/hardneg/miner"
	"github.com/hardneg/hardneg/storage"
	"github.com/hardneg/hardneg/workflows"
)

// planFormat versions the plan and every checkpoint format. It is part of the
// fingerprint, so a program that writes checkpoints differently never reads
// those of an older one.
const planFormat = 3

// planFile is what a job's activities share: written once by Plan under
// _work/<fingerprint>/plan.json, read by every other activity.
type planFile struct {
	Format      int            `json:"format"`
	Fingerprint string         `json:"fingerprint"`
	Spec        workflows.Spec `json:"spec"`
	Corpus      []shardInfo    `json:"corpus"`
	// Queries is empty in self mode, where the queries are the corpus rows.
	Queries      []shardInfo `json:"queries,omitempty"`
	Dim          int         `json:"dim"`
	IDKind       string      `json:"id_kind"` // of the corpus ids: "string" or "int64"
	QueryIDKind  string      `json:"query_id_kind"`
	CorpusRows   int64       `json:"corpus_rows"`
	QueryRows    int64       `json:"query_rows"`
	MaxPositives int         `json:"max_positives"`
	Blocks       int         `json:"blocks"`
}

// shardInfo is one input shard: its object and where its rows sit in the
// global order.
type shardInfo struct {
	Key   string `json:"key"` // relative to the corpus or queries prefix
	Size  int64  `json:"size"`
	ETag  string `json:"etag"`
	Rows  int64  `json:"rows"`
	First int64  `json:"first"` // global row of its row 0
}

// queryShards returns the shards the queries come from, and the URI prefix
// they are under.
func (p *planFile) queryShards() ([]shardInfo, string) {
	if len(p.Queries) == 0 {
		return p.Corpus, p.Spec.Corpus
	}
	return p.Queries, p.Spec.Queries
}

// selection resolves the selection parameters of the plan's spec.
func (p *planFile) selection() (miner.Selection, error) {
	return minerParams(p.Spec).Resolve(p.MaxPositives)
}

func minerParams(s workflows.Spec) miner.Params {
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

// columns are the dataset column names of a spec.
func columns(s workflows.Spec) dataset.Columns {
	c := dataset.Columns{ID: s.IDColumn, Embedding: s.EmbeddingColumn, Positives: s.PositivesColumn, Text: s.TextColumn}
	if s.LabelColumn != "" {
		c.Label = s.LabelColumn
	}
	return c
}

// Plan lists the shards, reads their footers, checks them, fingerprints the
// inputs and writes the plan. Apart from the footers it reads only the id
// columns of the corpus (to refuse an id that two shards share) and, in pairs
// mode, the positives column of the queries (to count max_positives).
func (a *Activities) Plan(ctx context.Context, in workflows.PlanInput) (_ workflows.PlanResult, err error) {
	defer func() { err = classifyIn(in.Spec, err) }()
	spec := in.Spec.WithDefaults()
	if err := spec.Validate(); err != nil {
		return workflows.PlanResult{}, invalid(err.Error())
	}
	if err := a.checkAllowed(spec); err != nil {
		return workflows.PlanResult{}, err
	}
	if _, err := minerParams(spec).Resolve(0); err != nil {
		return workflows.PlanResult{}, classify(err)
	}
	out, err := a.store(ctx, spec.Output)
	if err != nil {
		return workflows.PlanResult{}, err
	}
	// A job that runs again must not leave an earlier _SUCCESS standing while
	// it rewrites the output.
	if err := out.Delete(ctx, SuccessKey); err != nil {
		return workflows.PlanResult{}, fmt.Errorf("delete %s: %w", SuccessKey, err)
	}
	if err := probeWritable(ctx, out); err != nil {
		return workflows.PlanResult{}, err
	}

	corpus, queries, maxPos, err := a.checkInputs(ctx, spec)
	if err != nil {
		return workflows.PlanResult{}, err
	}
	sel, err := minerParams(spec).Resolve(maxPos)
	if err != nil {
		return workflows.PlanResult{}, classify(err)
	}
	pf := newPlanFile(spec, corpus, queries, maxPos)
	if err := a.admit(pf, sel); err != nil {
		return workflows.PlanResult{}, err
	}

	data, err := json.MarshalIndent(pf, "", "  ")
	if err != nil {
		return workflows.PlanResult{}, err
	}
	if err := out.Put(ctx, PlanKey(pf.Fingerprint), bytes.NewReader(append(data, '\n'))); err != nil {
		return workflows.PlanResult{}, fmt.Errorf("write plan: %w", err)
	}
	res := workflows.PlanResult{
		Fingerprint: pf.Fingerprint, WorkPrefix: WorkPrefix(pf.Fingerprint),
		QueryShards: len(queries), CorpusShards: len(pf.Corpus),
		QueryRows: pf.QueryRows, CorpusRows: pf.CorpusRows, Dim: pf.Dim, Blocks: pf.Blocks,
		RangeMax: sel.RangeMax, MaxPositives: maxPos,
	}
	if len(queries) == 0 {
		res.QueryShards = len(pf.Corpus)
	}
	if res.DoneTiles, res.DoneBlocks, err = doneWork(ctx, out, pf); err != nil {
		return workflows.PlanResult{}, err
	}
	a.logger().Info("planned", "run", spec.Run, "epoch", spec.Epoch, "fingerprint", pf.Fingerprint,
		"corpus_shards", len(pf.Corpus), "corpus_rows", pf.CorpusRows, "query_rows", pf.QueryRows,
		"blocks", pf.Blocks, "dim", pf.Dim, "max_positives", maxPos, "range_max", sel.RangeMax)
	return res, nil
}

// newPlanFile lays out the plan of checked inputs, fingerprint included.
func newPlanFile(spec workflows.Spec, corpus, queries []footer, maxPos int) *planFile {
	pf := &planFile{
		Format: planFormat, Spec: spec, Dim: corpus[0].dim,
		IDKind: corpus[0].idKind.String(), QueryIDKind: corpus[0].idKind.String(), MaxPositives: maxPos,
	}
	pf.Corpus, pf.CorpusRows = infos(corpus)
	pf.QueryRows = pf.CorpusRows
	if len(queries) > 0 {
		pf.Queries, pf.QueryRows = infos(queries)
		pf.QueryIDKind = queries[0].idKind.String()
	}
	pf.Blocks = workflows.BlockCount(spec, pf.QueryRows)
	pf.Fingerprint = fingerprint(pf)
	return pf
}

func infos(fs []footer) ([]shardInfo, int64) {
	out := make([]shardInfo, len(fs))
	var rows int64
	for i, f := range fs {
		out[i] = f.info
		out[i].First = rows
		rows += f.info.Rows
	}
	return out, rows
}

// fingerprint hashes every input shard's key, size and ETag with the spec
// fields that affect results. The output, max_parallel, precision (exact
// either way) and force are left out, so changing them reuses the checkpoints
// and a finished output. The spec has its defaults applied, and encodes with
// the fields at their zero value left out, so a field sent at its default and
// one not sent give the same fingerprint. Finished computes it from the
// listings alone (inputsFingerprint): it must depend on nothing else.
func fingerprint(p *planFile) string {
	s := p.Spec
	s.Output, s.MaxParallel, s.Precision, s.Force = "", 0, "", false
	h := sha256.New()
	fmt.Fprintf(h, "hardneg plan format %d\n", planFormat)
	spec, _ := json.Marshal(s) // a Spec always marshals
	h.Write(spec)
	for _, g := range []struct {
		name   string
		shards []shardInfo
	}{{"corpus", p.Corpus}, {"queries", p.Queries}} {
		for _, sh := range g.shards {
			fmt.Fprintf(h, "\n%s\t%q\t%d\t%q", g.name, sh.Key, sh.Size, sh.ETag)
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:24]
}

// doneWork lists the checkpoints already under the plan's work prefix.
func doneWork(ctx context.Context, out storage.Store, p *planFile) (tiles, blocks workflows.Bitmap, err error) {
	objs, err := out.List(ctx, WorkPrefix(p.Fingerprint))
	if err != nil {
		return nil, nil, fmt.Errorf("list checkpoints: %w", err)
	}
	n := len(p.Corpus)
	for _, o := range objs {
		kind, b, s, ok := parseWorkKey(strings.TrimPrefix(o.Key, WorkPrefix(p.Fingerprint)))
		switch {
		case !ok || b >= p.Blocks:
		case kind == "tile" && s < n:
			if tiles == nil {
				tiles = workflows.NewBitmap(p.Blocks * n)
			}
			tiles.Set(b*n + s)
		case kind == "block":
			if blocks == nil {
				blocks = workflows.NewBitmap(p.Blocks)
			}
			blocks.Set(b)
		}
	}
	return tiles, blocks, nil
}

// probeKey is the object Plan writes and deletes to prove the output writable.
const probeKey = workRoot + "probe"

// probeWritable writes and deletes probeKey, so that an output the worker
// may not write fails the job before any mining rather than after it.
func probeWritable(ctx context.Context, out storage.Store) error {
	if err := out.Put(ctx, probeKey, bytes.NewReader([]byte("hardneg write probe\n"))); err != nil {
		return fmt.Errorf("probe that the output is writable: %w", err)
	}
	if err := out.Delete(ctx, probeKey); err != nil {
		return fmt.Errorf("probe that the output is writable: %w", err)
	}
	return nil
}
