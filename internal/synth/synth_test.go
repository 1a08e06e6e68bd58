package synth

import (
	"bytes"
	"testing"

	"github.com/parquet-go/parquet-go"
)

func TestGenerateIsRepeatableAndDrifts(t *testing.T) {
	cfg := Config{Corpus: 200, Queries: 50, Dim: 16, Clusters: 4, CorpusShards: 2, QueryShards: 1,
		NearDupShare: 0.2, MultiPosShare: 0.3, Seed: 7}
	a, b := Generate(cfg, 0), Generate(cfg, 0)
	c := Generate(cfg, 1)
	if a.Corpus[10].Embedding[3] != b.Corpus[10].Embedding[3] {
		t.Error("same config and epoch gave different data")
	}
	if a.Corpus[10].Embedding[3] == c.Corpus[10].Embedding[3] {
		t.Error("epoch 1 did not drift from epoch 0")
	}
	if a.Queries[5].PositiveIDs[0] != c.Queries[5].PositiveIDs[0] {
		t.Error("positives changed between epochs")
	}
	shards, err := Shards(a.Corpus, cfg.CorpusShards)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, s := range shards {
		rows, err := parquet.Read[CorpusRow](bytes.NewReader(s), int64(len(s)))
		if err != nil {
			t.Fatal(err)
		}
		total += len(rows)
	}
	if total != cfg.Corpus {
		t.Errorf("shards hold %d rows, want %d", total, cfg.Corpus)
	}
}
