package activities

// Plan's checks of the input shards: their footers against each other and
// the mode, corpus ids unique across shards, max_positives; and the opening
// of a shard the plan listed, which every reader of a shard goes through.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"golang.org/x/sync/errgroup"

	"github.com/hardneg/hardneg/dataset"
	"github.com/hardneg/hardneg/internal/job"
	"github.com/hardneg/hardneg/storage"
	"github.com/hardneg/hardneg/workflows"
)

// footer is what Plan learns from one shard's footer.
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
	if err := a.checkUniqueIDs(ctx, spec, spec.Corpus, "corpus", corpus); err != nil {
		return nil, nil, 0, err
	}
	if err := a.checkUniqueIDs(ctx, spec, spec.Queries, "query", queries); err != nil {
		return nil, nil, 0, err
	}
	if spec.Mode() == workflows.ModePairs {
		if maxPos, err = a.maxPositives(ctx, spec, queries); err != nil {
			return nil, nil, 0, err
		}
	}
	return corpus, queries, maxPos, nil
}

// footers lists the *.parquet objects under uri, in key order, and reads the
// footer of each.
func (a *Activities) footers(ctx context.Context, spec workflows.Spec, uri, what string) ([]footer, error) {
	st, err := a.store(ctx, uri)
	if err != nil {
		return nil, err
	}
	objs, err := shardObjects(ctx, st, uri)
	if err != nil {
		return nil, err
	}
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
				info: job.Shard{Key: o.Key, Size: o.Size, ETag: o.ETag, Rows: sh.Rows()},
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

// checkUniqueIDs refuses corpus or query shards (what) under uri whose ids
// repeat across shards. Within a shard dataset refuses it already; across
// shards the ids are hashed, and the hashes that repeat are confirmed
// exactly, so a collision never refuses good input.
func (a *Activities) checkUniqueIDs(ctx context.Context, spec workflows.Spec, uri, what string, corpus []footer) error {
	if len(corpus) < 2 {
		return nil // dataset checks within one shard
	}
	st, err := a.store(ctx, uri)
	if err != nil {
		return err
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
				return invalid(fmt.Sprintf("%s: column %q: row %d: id %s also appears in %s (%s ids must be unique)",
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

// openShard opens one input shard and reads its footer. closer closes the
// object.
func (a *Activities) openShard(ctx context.Context, st storage.Store, info job.Shard, name string, spec workflows.Spec) (*dataset.Shard, func(), error) {
	obj, err := openPlanned(ctx, st, info, name)
	if err != nil {
		return nil, nil, err
	}
	return openFrom(a.counting(obj), obj, info, name, spec)
}

// openFrom opens the shard name read through r; closing it closes obj.
func openFrom(r io.ReaderAt, obj storage.Object, info job.Shard, name string, spec workflows.Spec) (*dataset.Shard, func(), error) {
	sh, err := dataset.OpenShard(r, info.Size, name, columns(spec))
	if err != nil {
		obj.Close()
		return nil, nil, classify(fmt.Errorf("read footer of %s: %w", name, err))
	}
	return sh, func() { obj.Close() }, nil
}

// openPlanned opens a shard the plan listed, and checks it is the object
// the plan saw.
func openPlanned(ctx context.Context, st storage.Store, info job.Shard, name string) (storage.Object, error) {
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
