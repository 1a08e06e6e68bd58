package reader

import (
	"context"
	"fmt"

	"github.com/hardneg/hardneg/dataset"
	"github.com/hardneg/hardneg/internal/inputs"
	"github.com/hardneg/hardneg/internal/job"
	"github.com/hardneg/hardneg/internal/pipeline"
	"github.com/hardneg/hardneg/miner"
	"github.com/hardneg/hardneg/workflows"
)

// Shard is what a tile needs of one corpus shard, read whole.
type Shard struct {
	IDs    dataset.IDs
	Emb    miner.Matrix // normalised for cosine similarity
	Labels dataset.IDs  // labeled mode
	// RefCount counts the users of Emb (a cache, tiles); the last to let
	// go gives its buffer to Pool, when set.
	pipeline.RefCount
	Pool *pipeline.BufPool[float32]
}

// Release lets go of one user of the shard.
func (d *Shard) Release() {
	if d.Drop() && d.Pool != nil {
		d.Pool.Put(d.Emb.Data)
		d.Emb.Data = nil
	}
}

// Needs says what a tile reads of a corpus shard besides ids and
// embeddings.
type Needs struct{ Labels bool }

// ReadShard reads the shard info under uri whole, its embeddings into dst
// when it is large enough, from its bytes in raw when they are there.
func ReadShard(ctx context.Context, src inputs.Source, p *job.Plan, uri string, info job.Shard, n Needs, dst []float32, raw pipeline.FetchedSet) (*Shard, error) {
	name := workflows.WithSlash(uri) + info.Key
	sh, closer, err := open(ctx, src, uri, info, name, p.Spec, raw)
	if err != nil {
		return nil, err
	}
	defer closer()
	if err := checkDim(p, sh, name); err != nil {
		return nil, err
	}
	d := &Shard{}
	if d.IDs, err = sh.ReadIDs(); err != nil {
		return nil, fmt.Errorf("read ids of %s: %w", name, err)
	}
	data, err := sh.ReadEmbeddings(dst[:0])
	if err != nil {
		return nil, fmt.Errorf("read embeddings of %s: %w", name, err)
	}
	d.Emb = miner.Matrix{Rows: int(sh.Rows()), Dim: sh.Dim(), Data: data}
	if p.Spec.Similarity == "cosine" {
		miner.Normalize(d.Emb)
	}
	if n.Labels {
		if d.Labels, err = sh.ReadLabels(); err != nil {
			return nil, fmt.Errorf("read labels of %s: %w", name, err)
		}
	}
	return d, nil
}

// checkDim refuses a shard whose dimension is not the plan's.
func checkDim(p *job.Plan, sh *dataset.Shard, name string) error {
	if sh.Dim() != p.Dim {
		return job.Invalid(fmt.Sprintf("%s: column %q: dimension %d, planned %d", name, p.Spec.EmbeddingColumn, sh.Dim(), p.Dim))
	}
	return nil
}
