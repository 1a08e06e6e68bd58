package e2e

import (
	"context"
	"testing"
	"time"

	ds "github.com/hardneg/hardneg/dataset"
	"github.com/hardneg/hardneg/internal/synth"
)

// BenchmarkShardFromS3 reads one corpus shard of 100,000 × 256 float32
// (100 MB of embeddings, zstd Parquet) from versitygw on loopback, as a tile
// does: open (footer), then every embedding. The first read of each iteration
// goes into a fresh buffer, the second reuses it.
func BenchmarkShardFromS3(b *testing.B) {
	cfg := synth.Config{Corpus: 100000, Queries: 1, Dim: 256, Clusters: 8, CorpusShards: 1, QueryShards: 1, Seed: 3}
	dataset(b, "readbench/in/", cfg)
	st := outStore(b, "readbench/in/corpus/")
	ctx := context.Background()
	infos, err := st.List(ctx, "")
	if err != nil || len(infos) != 1 {
		b.Fatalf("list: %v %v", infos, err)
	}
	read := func(dst []float32) []float32 {
		obj, err := st.Open(ctx, infos[0].Key)
		if err != nil {
			b.Fatal(err)
		}
		sh, err := ds.OpenShard(obj, infos[0].Size, infos[0].Key, ds.Columns{})
		if err != nil {
			b.Fatal(err)
		}
		if dst, err = sh.ReadEmbeddings(dst); err != nil {
			b.Fatal(err)
		}
		return dst
	}
	b.SetBytes(int64(cfg.Corpus * cfg.Dim * 4))
	var fresh, reused time.Duration
	for b.Loop() {
		t := time.Now()
		dst := read(nil)
		fresh += time.Since(t)
		t = time.Now()
		read(dst)
		reused += time.Since(t)
	}
	b.ReportMetric(fresh.Seconds()/float64(b.N), "fresh-s/op")
	b.ReportMetric(reused.Seconds()/float64(b.N), "reused-s/op")
}
