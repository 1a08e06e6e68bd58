package activities

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"

	"golang.org/x/sync/errgroup"

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
	}
}

// columns are the dataset column names of a spec.
func columns(s workflows.Spec) dataset.Columns {
	c := dataset.Columns{ID: s.IDColumn, Embedding: s.EmbeddingColumn, Positives: s.PositivesColumn}
	if s.LabelColumn != "" {
		c.Label = s.LabelColumn
	}
	return c
}

// footer is what Plan learns from one shard's footer.
type footer struct {
	info      shardInfo
	name      string // URI, for messages
	dim       int
	idKind    dataset.Kind
	hasPos    bool
	posKind   dataset.Kind
	hasLabels bool
	labelKind dataset.Kind
}

// Plan lists the shards, reads their footers, checks them, fingerprints the
// inputs and writes the plan. Apart from the footers it reads only the id
// columns of the corpus (to refuse an id that two shards share) and, in pairs
// mode, the positives column of the queries (to count max_positives).
func (a *Activities) Plan(ctx context.Context, in workflows.PlanInput) (_ workflows.PlanResult, err error) {
	defer func() { err = classify(err) }()
	spec := in.Spec.WithDefaults()
	if err := spec.Validate(); err != nil {
		return workflows.PlanResult{}, invalid(err.Error())
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

	corpus, queries, maxPos, err := a.checkInputs(ctx, spec)
	if err != nil {
		return workflows.PlanResult{}, err
	}
	sel, err := minerParams(spec).Resolve(maxPos)
	if err != nil {
		return workflows.PlanResult{}, classify(err)
	}
	pf := newPlanFile(spec, corpus, queries, maxPos)

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

// checkInputs reads the footers of the corpus and query shards and checks
// them: against each other and the mode, corpus ids unique across shards. In
// pairs mode it also counts max_positives.
func (a *Activities) checkInputs(ctx context.Context, spec workflows.Spec) (corpus, queries []footer, maxPos int, err error) {
	if corpus, err = a.footers(ctx, spec, spec.Corpus, "corpus"); err != nil {
		return nil, nil, 0, err
	}
	if spec.Queries != "" {
		if queries, err = a.footers(ctx, spec, spec.Queries, "queries"); err != nil {
			return nil, nil, 0, err
		}
	}
	if err := checkFooters(spec, corpus, queries); err != nil {
		return nil, nil, 0, err
	}
	if err := a.checkUniqueIDs(ctx, spec, corpus); err != nil {
		return nil, nil, 0, err
	}
	if spec.Mode() == workflows.ModePairs {
		if maxPos, err = a.maxPositives(ctx, spec, queries); err != nil {
			return nil, nil, 0, err
		}
	}
	return corpus, queries, maxPos, nil
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

// footers lists the *.parquet objects under uri, in key order, and reads the
// footer of each.
func (a *Activities) footers(ctx context.Context, spec workflows.Spec, uri, what string) ([]footer, error) {
	st, err := a.store(ctx, uri)
	if err != nil {
		return nil, err
	}
	objs, err := st.List(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", uri, err)
	}
	objs = slices.DeleteFunc(objs, func(o storage.ObjectInfo) bool { return path.Ext(o.Key) != ".parquet" })
	if len(objs) == 0 {
		return nil, invalid(fmt.Sprintf("%s: no *.parquet shard under %s", what, uri))
	}
	fs := make([]footer, len(objs))
	cols := columns(spec)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for i, o := range objs {
		g.Go(func() error {
			obj, err := st.Open(gctx, o.Key)
			if err != nil {
				return fmt.Errorf("open %s%s: %w", workflows.WithSlash(uri), o.Key, err)
			}
			defer obj.Close()
			name := workflows.WithSlash(uri) + o.Key
			sh, err := dataset.OpenShard(a.counting(obj), o.Size, name, cols)
			if err != nil {
				return classify(fmt.Errorf("read footer of %s: %w", name, err))
			}
			fs[i] = footer{
				info: shardInfo{Key: o.Key, Size: o.Size, ETag: o.ETag, Rows: sh.Rows()},
				name: name, dim: sh.Dim(), idKind: sh.IDKind(),
				hasPos: sh.HasPositives(), posKind: sh.PositivesKind(),
				hasLabels: sh.HasLabels(), labelKind: sh.LabelKind(),
			}
			beat(gctx, what, i)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return fs, nil
}

// checkFooters checks that the shards agree with each other and with the mode.
func checkFooters(spec workflows.Spec, corpus, queries []footer) error {
	first := corpus[0]
	all := append(append([]footer(nil), corpus...), queries...)
	for _, f := range all {
		if f.dim != first.dim {
			return invalid(fmt.Sprintf("%s: column %q: dimension %d, but %s has dimension %d",
				f.name, spec.EmbeddingColumn, f.dim, first.name, first.dim))
		}
	}
	for _, group := range [][]footer{corpus, queries} {
		for _, f := range group {
			if f.idKind != group[0].idKind {
				return invalid(fmt.Sprintf("%s: column %q: %s ids, but %s has %s ids",
					f.name, spec.IDColumn, f.idKind, group[0].name, group[0].idKind))
			}
		}
	}
	switch spec.Mode() {
	case workflows.ModePairs:
		for _, f := range queries {
			if !f.hasPos {
				return invalid(fmt.Sprintf("%s: column %q: missing (pairs mode needs each query's positive ids)",
					f.name, spec.PositivesColumn))
			}
			if f.posKind != first.idKind {
				return invalid(fmt.Sprintf("%s: column %q: holds %s ids, but the corpus ids (%s) are %s",
					f.name, spec.PositivesColumn, f.posKind, first.name, first.idKind))
			}
		}
	case workflows.ModeLabeled:
		for _, f := range all {
			if !f.hasLabels {
				return invalid(fmt.Sprintf("%s: column %q: missing (labeled mode needs a label on every row)",
					f.name, spec.LabelColumn))
			}
			if f.labelKind != first.labelKind {
				return invalid(fmt.Sprintf("%s: column %q: %s labels, but %s has %s labels",
					f.name, spec.LabelColumn, f.labelKind, first.name, first.labelKind))
			}
		}
	}
	return nil
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
// fields that affect results. The output, max_parallel and precision (exact
// either way) are left out, so changing them reuses the checkpoints.
func fingerprint(p *planFile) string {
	s := p.Spec
	s.Output, s.MaxParallel, s.Precision = "", 0, ""
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

// maxPositives reads the positives column of every query shard and returns
// the longest list, as sentence-transformers counts max_positives.
func (a *Activities) maxPositives(ctx context.Context, spec workflows.Spec, queries []footer) (int, error) {
	st, err := a.store(ctx, spec.Queries)
	if err != nil {
		return 0, err
	}
	most := make([]int, len(queries))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i, f := range queries {
		g.Go(func() error {
			sh, closer, err := a.openShard(gctx, st, f.info, f.name, spec)
			if err != nil {
				return err
			}
			defer closer()
			pos, err := sh.ReadPositives()
			if err != nil {
				return classify(fmt.Errorf("read positives of %s: %w", f.name, err))
			}
			for r := range pos.Len() {
				most[i] = max(most[i], int(pos.Offsets[r+1]-pos.Offsets[r]))
			}
			beat(gctx, "positives", i)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return 0, err
	}
	return slices.Max(most), nil
}

// checkUniqueIDs refuses a corpus whose ids repeat. Within a shard dataset
// refuses it already; across shards the ids are hashed, and the hashes that
// repeat are confirmed exactly, so a collision never refuses a good corpus.
func (a *Activities) checkUniqueIDs(ctx context.Context, spec workflows.Spec, corpus []footer) error {
	st, err := a.store(ctx, spec.Corpus)
	if err != nil {
		return err
	}
	if len(corpus) < 2 {
		return nil // dataset checks within one shard
	}
	hashes := make([][]uint64, len(corpus))
	read := func(i int) (dataset.IDs, error) {
		sh, closer, err := a.openShard(ctx, st, corpus[i].info, corpus[i].name, spec)
		if err != nil {
			return dataset.IDs{}, err
		}
		defer closer()
		ids, err := sh.ReadIDs()
		if err != nil {
			return dataset.IDs{}, classify(fmt.Errorf("read ids of %s: %w", corpus[i].name, err))
		}
		return ids, nil
	}
	g, _ := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i := range corpus {
		g.Go(func() error {
			ids, err := read(i)
			if err != nil {
				return err
			}
			hashes[i] = hashIDs(ids)
			beat(ctx, "ids", i)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	suspects := repeatedHashes(hashes)
	if len(suspects) == 0 {
		return nil
	}
	// Confirm: find the first id, in corpus order, seen in an earlier shard.
	seen := map[string]string{} // id → shard name
	for i := range corpus {
		ids, err := read(i)
		if err != nil {
			return err
		}
		for r := range ids.Len() {
			if _, ok := suspects[hashID(ids, r)]; !ok {
				continue
			}
			id := ids.Format(r)
			if prev, ok := seen[id]; ok {
				return invalid(fmt.Sprintf("%s: column %q: row %d: id %s also appears in %s (corpus ids must be unique)",
					corpus[i].name, spec.IDColumn, r, id, prev))
			}
			seen[id] = corpus[i].name
		}
	}
	return nil
}

// repeatedHashes returns the hashes that occur in more than one shard or twice.
func repeatedHashes(perShard [][]uint64) map[uint64]struct{} {
	var all []uint64
	for _, h := range perShard {
		all = append(all, h...)
	}
	slices.Sort(all)
	rep := map[uint64]struct{}{}
	for i := 1; i < len(all); i++ {
		if all[i] == all[i-1] {
			rep[all[i]] = struct{}{}
		}
	}
	return rep
}

// openShard opens one input shard and reads its footer. closer closes the
// object.
func (a *Activities) openShard(ctx context.Context, st storage.Store, info shardInfo, name string, spec workflows.Spec) (*dataset.Shard, func(), error) {
	obj, err := openPlanned(ctx, st, info, name)
	if err != nil {
		return nil, nil, err
	}
	return openFrom(a.counting(obj), obj, info, name, spec)
}

// openFrom opens the shard name read through r; closing it closes obj.
func openFrom(r io.ReaderAt, obj storage.Object, info shardInfo, name string, spec workflows.Spec) (*dataset.Shard, func(), error) {
	sh, err := dataset.OpenShard(r, info.Size, name, columns(spec))
	if err != nil {
		obj.Close()
		return nil, nil, classify(fmt.Errorf("read footer of %s: %w", name, err))
	}
	return sh, func() { obj.Close() }, nil
}

// openPlanned opens a shard the plan listed, and checks it is the object
// the plan saw.
func openPlanned(ctx context.Context, st storage.Store, info shardInfo, name string) (storage.Object, error) {
	obj, err := st.Open(ctx, info.Key)
	if err != nil {
		if errors.Is(err, storage.ErrNotExist) {
			// The plan listed it: the input changed under the job.
			return nil, invalid(fmt.Sprintf("%s: shard disappeared after the plan (inputs must not change during a job)", name))
		}
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	if got := obj.Info(); got.Size != info.Size || (info.ETag != "" && got.ETag != info.ETag) {
		obj.Close()
		return nil, invalid(fmt.Sprintf("%s: shard changed after the plan (size %d, ETag %q; planned %d, %q)",
			name, got.Size, got.ETag, info.Size, info.ETag))
	}
	return obj, nil
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
