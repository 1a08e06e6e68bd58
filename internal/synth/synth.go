// Package synth generates synthetic embedding data sets with the structure that
// hard-negative mining meets in practice, for the demo and for tests: clustered
// corpus vectors (topics), queries that lie near their positives, some queries
// with several positives, and near-duplicates of positives in the corpus (the
// false negatives that positive-aware filters exist to catch). Epochs drift: each
// epoch moves every vector a little, as a model's embeddings move while it trains.
package synth

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"
)

// Config sizes a data set. The same Config and Seed give the same bytes.
type Config struct {
	Corpus        int     // corpus rows
	Queries       int     // query rows
	Dim           int     // embedding dimension
	Clusters      int     // topics
	CorpusShards  int     // corpus Parquet files
	QueryShards   int     // query Parquet files
	NearDupShare  float64 // share of queries whose positive has a near-duplicate in the corpus
	MultiPosShare float64 // share of queries with a second positive
	Seed          uint64
}

// CorpusRow is one corpus row as written.
type CorpusRow struct {
	ID        string    `parquet:"id"`
	Embedding []float32 `parquet:"embedding,list"`
	Text      string    `parquet:"text"` // names the row and its topic
}

// QueryRow is one query row as written.
type QueryRow struct {
	ID          string    `parquet:"id"`
	Embedding   []float32 `parquet:"embedding,list"`
	PositiveIDs []string  `parquet:"positive_ids,list"`
	Text        string    `parquet:"text"` // names the query and its first positive
}

// Data is a generated epoch: the corpus and query rows.
type Data struct {
	Corpus  []CorpusRow
	Queries []QueryRow
}

// Generate builds the data of one epoch. The structure (clusters, which query
// has which positives) depends only on cfg; epoch adds a drift on top.
func Generate(cfg Config, epoch int) Data {
	base := rand.New(rand.NewPCG(cfg.Seed, 1))
	drift := rand.New(rand.NewPCG(cfg.Seed, 1000+uint64(epoch)))
	centers := make([][]float32, cfg.Clusters)
	for i := range centers {
		centers[i] = gaussian(base, cfg.Dim, 1)
	}
	corpus := make([]CorpusRow, cfg.Corpus)
	for i := range corpus {
		c := base.IntN(cfg.Clusters)
		v := add(centers[c], gaussian(base, cfg.Dim, 0.6))
		corpus[i] = CorpusRow{ID: fmt.Sprintf("doc-%07d", i), Embedding: v, Text: fmt.Sprintf("passage %d on topic %d", i, c)}
	}
	queries := make([]QueryRow, cfg.Queries)
	for i := range queries {
		p := base.IntN(cfg.Corpus)
		q := add(corpus[p].Embedding, gaussian(base, cfg.Dim, 0.35))
		pos := []string{corpus[p].ID}
		if base.Float64() < cfg.MultiPosShare {
			// A second relevant item: another corpus row made to lie near the
			// first positive, as a second relevant passage would.
			if s := base.IntN(cfg.Corpus); s != p {
				corpus[s].Embedding = add(corpus[p].Embedding, gaussian(base, cfg.Dim, 0.3))
				pos = append(pos, corpus[s].ID)
			}
		}
		if base.Float64() < cfg.NearDupShare {
			// A near-duplicate of the positive, not labelled as one: a false
			// negative waiting to be mined.
			d := base.IntN(cfg.Corpus)
			if d != p {
				corpus[d].Embedding = add(corpus[p].Embedding, gaussian(base, cfg.Dim, 0.05))
			}
		}
		queries[i] = QueryRow{ID: fmt.Sprintf("q-%07d", i), Embedding: q, PositiveIDs: pos,
			Text: fmt.Sprintf("question %d, answered by passage %d", i, p)}
	}
	scale := 0.15 * float64(epoch)
	for i := range corpus {
		corpus[i].Embedding = normalize(add(corpus[i].Embedding, gaussian(drift, cfg.Dim, scale)))
	}
	for i := range queries {
		queries[i].Embedding = normalize(add(queries[i].Embedding, gaussian(drift, cfg.Dim, scale)))
	}
	return Data{Corpus: corpus, Queries: queries}
}

func gaussian(r *rand.Rand, dim int, sigma float64) []float32 {
	v := make([]float32, dim)
	if sigma == 0 {
		return v
	}
	for i := range v {
		v[i] = float32(r.NormFloat64() * sigma / math.Sqrt(float64(dim)))
	}
	return v
}

func add(a, b []float32) []float32 {
	out := make([]float32, len(a))
	for i := range a {
		out[i] = a[i] + b[i]
	}
	return out
}

func normalize(v []float32) []float32 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	n := float32(1 / math.Sqrt(s))
	for i := range v {
		v[i] *= n
	}
	return v
}

// Shards cuts rows into n Parquet files (zstd), returned in order.
func Shards[T any](rows []T, n int) ([][]byte, error) {
	var out [][]byte
	for i := range n {
		lo, hi := i*len(rows)/n, (i+1)*len(rows)/n
		var buf bytes.Buffer
		w := parquet.NewGenericWriter[T](&buf, parquet.Compression(&zstd.Codec{}), parquet.CreatedBy("hardneg-synth", "1", ""))
		if _, err := w.Write(rows[lo:hi]); err != nil {
			return nil, fmt.Errorf("write shard %d: %w", i, err)
		}
		if err := w.Close(); err != nil {
			return nil, fmt.Errorf("close shard %d: %w", i, err)
		}
		out = append(out, buf.Bytes())
	}
	return out, nil
}
