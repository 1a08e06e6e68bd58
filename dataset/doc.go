// Package dataset reads embedding shards from Parquet and writes the job's
// output parts as Parquet. It knows nothing of where files live:
// it reads through an io.ReaderAt and a size, and writes to an io.Writer.
//
// # Reading
//
// OpenShard reads a shard's footer, checks its schema against the configured
// column names (Columns) and finds the embedding dimension from the start of
// the first data page. The Read methods then read the ids (string or int64,
// kept as IDs), the embeddings (one row-major []float32), the positives (Lists
// of ids per row) and the labels.
//
// Each Read method has a Range form (ReadEmbeddingsRange, ReadIDsRange,
// ReadPositivesRange, ReadLabelsRange) that reads rows [lo, hi) only: it
// skips the row groups that hold none of them and, for the embeddings, the
// pages, found through the offset index where the writer left one and by
// walking the page headers where not. One query block of a large shard
// costs about its own bytes, not the shard's.
//
// Embeddings may be a list or a fixed-size list (which Parquet stores as a
// list) of float32, float64 or float16, in any page version, codec and
// encoding a writer may choose (plain, dictionary, byte-stream-split). They
// are decoded by this package rather than through parquet-go's page API, so
// that the pages of one column chunk decode in parallel, straight into the
// output slice: DuckDB writes a 100,000 × 768 shard as one row group of three
// pages, which parquet-go decodes one after another.
//
// # Bad input
//
// Input that can never be read as asked is an *InputError naming the object,
// the column and, where one row is at fault, the row: a missing column, a wrong
// type, a row of another dimension, a null or NaN/Inf embedding, an empty
// shard, a duplicate id, a truncated or non-Parquet file. Callers treat it as
// non-retryable. Errors of the io.ReaderAt are returned as they are, wrapped.
//
// # Writing
//
// WriteTraining writes a part in one of sentence-transformers' formats
// (training.go). WriteNTuples writes a grouped part whose query and corpus ids
// share one type; WritePart writes a job's grouped part from PartRows with any
// id types, and WriteGroupedTexts with the texts (parts.go). Files are
// zstd-compressed and identical rows always give identical bytes. (A tile's
// partial results are not Parquet: see package internal/checkpoint.)
package dataset
