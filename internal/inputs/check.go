package inputs

// Plan's checks of the input shards: their footers against each other and
// the mode, ids unique across shards, max_positives.

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"slices"

	"golang.org/x/sync/errgroup"

	"github.com/hardneg/hardneg/dataset"
	"github.com/hardneg/hardneg/internal/job"
	"github.com/hardneg/hardneg/workflows"
)

// footer is what Check learns from one shard's footer.
type footer struct {
	info      job.Shard
	name      string // URI, for messages
	dim       int
	idKind    dataset.Kind
	hasPos    bool
	posKind   dataset.Kind
	hasLabels bool
	labelKind dataset.Kind
}

// Check reads the footers of the spec's corpus and query shards and checks
// them: against each other and the mode, ids unique across the shards of
// each. In pairs mode it also counts max_positives. Apart from the footers it
// reads only the id columns (when there are several shards) and the
// positives column of the queries. It returns the job's plan of the shards,
// fingerprint included.
func (s Source) Check(ctx context.Context, spec workflows.Spec) (*job.Plan, error) {
	corpus, err := s.footers(ctx, spec, spec.Corpus, "corpus")
	if err != nil {
		return nil, err
	}
	var queries []footer
	if spec.Queries != "" {
		if queries, err = s.footers(ctx, spec, spec.Queries, "queries"); err != nil {
			return nil, err
		}
	}
	if err := checkFooters(spec, corpus, queries); err != nil {
		return nil, err
	}
	if err := s.checkUniqueIDs(ctx, spec, spec.Corpus, "corpus", corpus); err != nil {
		return nil, err
	}
	if err := s.checkUniqueIDs(ctx, spec, spec.Queries, "query", queries); err != nil {
		return nil, err
	}
	maxPos := 0
	if spec.Mode() == workflows.ModePairs {
		if maxPos, err = s.maxPositives(ctx, spec, queries); err != nil {
			return nil, err
		}
	}
	return newPlan(spec, corpus, queries, maxPos), nil
}

// footers lists the *.parquet objects under uri, in key order, and reads the
// footer of each.
func (s Source) footers(ctx context.Context, spec workflows.Spec, uri, what string) ([]footer, error) {
	st, err := s.Store(ctx, uri)
	if err != nil {
		return nil, err
	}
	objs, err := List(ctx, st, uri)
	if err != nil {
		return nil, err
	}
	if len(objs) == 0 {
		return nil, job.Invalid(fmt.Sprintf("%s: no *.parquet shard under %s", what, uri))
	}
	fs := make([]footer, len(objs))
	cols := Columns(spec)
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
			sh, err := dataset.OpenShard(s.Counted(obj), o.Size, name, cols)
			if err != nil {
				return fmt.Errorf("read footer of %s: %w", name, err)
			}
			fs[i] = footer{
				info: job.Shard{Key: o.Key, Size: o.Size, ETag: o.ETag, Rows: sh.Rows()},
				name: name, dim: sh.Dim(), idKind: sh.IDKind(),
				hasPos: sh.HasPositives(), posKind: sh.PositivesKind(),
				hasLabels: sh.HasLabels(), labelKind: sh.LabelKind(),
			}
			s.beat(gctx, what, i)
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
			return job.Invalid(fmt.Sprintf("%s: column %q: dimension %d, but %s has dimension %d",
				f.name, spec.EmbeddingColumn, f.dim, first.name, first.dim))
		}
	}
	for _, group := range [][]footer{corpus, queries} {
		for _, f := range group {
			if f.idKind != group[0].idKind {
				return job.Invalid(fmt.Sprintf("%s: column %q: %s ids, but %s has %s ids",
					f.name, spec.IDColumn, f.idKind, group[0].name, group[0].idKind))
			}
		}
	}
	switch spec.Mode() {
	case workflows.ModePairs:
		for _, f := range queries {
			if !f.hasPos {
				return job.Invalid(fmt.Sprintf("%s: column %q: missing (pairs mode needs each query's positive ids)",
					f.name, spec.PositivesColumn))
			}
			if f.posKind != first.idKind {
				return job.Invalid(fmt.Sprintf("%s: column %q: holds %s ids, but the corpus ids (%s) are %s",
					f.name, spec.PositivesColumn, f.posKind, first.name, first.idKind))
			}
		}
	case workflows.ModeLabeled:
		for _, f := range all {
			if !f.hasLabels {
				return job.Invalid(fmt.Sprintf("%s: column %q: missing (labeled mode needs a label on every row)",
					f.name, spec.LabelColumn))
			}
			if f.labelKind != first.labelKind {
				return job.Invalid(fmt.Sprintf("%s: column %q: %s labels, but %s has %s labels",
					f.name, spec.LabelColumn, f.labelKind, first.name, first.labelKind))
			}
		}
	}
	return nil
}

// maxPositives reads the positives column of every query shard and returns
// the longest list, as sentence-transformers counts max_positives.
func (s Source) maxPositives(ctx context.Context, spec workflows.Spec, queries []footer) (int, error) {
	st, err := s.Store(ctx, spec.Queries)
	if err != nil {
		return 0, err
	}
	most := make([]int, len(queries))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i, f := range queries {
		g.Go(func() error {
			sh, closer, err := s.Open(gctx, st, f.info, f.name, spec)
			if err != nil {
				return err
			}
			defer closer()
			pos, err := sh.ReadPositives()
			if err != nil {
				return fmt.Errorf("read positives of %s: %w", f.name, err)
			}
			for r := range pos.Len() {
				most[i] = max(most[i], int(pos.Offsets[r+1]-pos.Offsets[r]))
			}
			s.beat(gctx, "positives", i)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return 0, err
	}
	return slices.Max(most), nil
}

// checkUniqueIDs refuses corpus or query shards (what) under uri whose ids
// repeat across shards. Within a shard dataset refuses it already; across
// shards the ids are hashed, and the hashes that repeat are confirmed
// exactly, so a collision never refuses good input.
func (s Source) checkUniqueIDs(ctx context.Context, spec workflows.Spec, uri, what string, corpus []footer) error {
	if len(corpus) < 2 {
		return nil // dataset checks within one shard
	}
	st, err := s.Store(ctx, uri)
	if err != nil {
		return err
	}
	hashes := make([][]uint64, len(corpus))
	read := func(i int) (dataset.IDs, error) {
		sh, closer, err := s.Open(ctx, st, corpus[i].info, corpus[i].name, spec)
		if err != nil {
			return dataset.IDs{}, err
		}
		defer closer()
		ids, err := sh.ReadIDs()
		if err != nil {
			return dataset.IDs{}, fmt.Errorf("read ids of %s: %w", corpus[i].name, err)
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
			s.beat(ctx, "ids", i)
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
	seen := map[string]string{} // id → shard name and row
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
				return job.Invalid(fmt.Sprintf("%s: column %q: row %d: id %s also appears in %s (%s ids must be unique)",
					corpus[i].name, spec.IDColumn, r, id, prev, what))
			}
			seen[id] = fmt.Sprintf("%s row %d", corpus[i].name, r)
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

// newPlan lays out the plan of checked inputs, fingerprint included.
func newPlan(spec workflows.Spec, corpus, queries []footer, maxPos int) *job.Plan {
	pf := &job.Plan{
		Format: job.Format, Spec: spec, Dim: corpus[0].dim,
		IDKind: corpus[0].idKind.String(), QueryIDKind: corpus[0].idKind.String(), MaxPositives: maxPos,
	}
	pf.Corpus, pf.CorpusRows = infos(corpus)
	pf.QueryRows = pf.CorpusRows
	if len(queries) > 0 {
		pf.Queries, pf.QueryRows = infos(queries)
		pf.QueryIDKind = queries[0].idKind.String()
	}
	pf.Blocks = workflows.BlockCount(spec, pf.QueryRows)
	pf.Fingerprint = job.Fingerprint(pf)
	return pf
}

func infos(fs []footer) ([]job.Shard, int64) {
	out := make([]job.Shard, len(fs))
	var rows int64
	for i, f := range fs {
		out[i] = f.info
		out[i].First = rows
		rows += f.info.Rows
	}
	return out, rows
}

// idSeed makes the id hashes of one process agree; they never leave it.
var idSeed = maphash.MakeSeed()

// hashID hashes id i of ids with idSeed.
func hashID(ids dataset.IDs, i int) uint64 {
	if s := ids.Strings(); s != nil {
		return maphash.String(idSeed, s[i])
	}
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(ids.Int64s()[i]))
	return maphash.Bytes(idSeed, b[:])
}

// hashIDs hashes every id of ids (hashID).
func hashIDs(ids dataset.IDs) []uint64 {
	h := make([]uint64, ids.Len())
	for i := range h {
		h[i] = hashID(ids, i)
	}
	return h
}
