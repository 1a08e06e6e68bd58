// Package miner holds the algorithms of hard-negative mining: exact top-k
// inner-product search, the merge of partial results, the positive-aware
// selection rules of sentence-transformers' mine_hard_negatives, easy
// negatives, the max_negative_frequency rebalancing and the statistics. It
// is pure: no I/O, no Temporal, nothing of the rest of the project.
//
// # Data
//
// Vectors are a Matrix (row-major float32). For cosine similarity call
// Normalize on queries and corpus first. Corpus items are named by their
// global row: their place in corpus order (shard key order, then row order
// inside a shard). The global row breaks score ties (lower row wins; see
// Better) so that every result is a function of the data alone.
//
// # Phases and the functions that serve them
//
//  1. Plan: Params.Resolve validates the spec's selection fields (errors are
//     *ParamError naming the spec field) and derives range_max as
//     sentence-transformers does, giving a Selection. Selection.PoolSize is the K of
//     every tile; Selection.EasyDraws the length of each query's easy stream.
//     QuerySeed turns (seed, run, epoch, query id) into a query's seed.
//
//  2. Mine, one tile = (query block × corpus shard): SearchTile returns for
//     every query a Partial: the exact best K of the shard, the exact scores
//     of the query's positives that live in the shard, in labeled mode the
//     count and lowest score of the items sharing its label (the margin
//     anchor), and the scored rows of its easy stream that fall in the shard.
//     The search runs on all cores: the corpus is packed one block at a time
//     for the kernel engine (AVX-512, AVX2+FMA, NEON on arm64 or portable Go, chosen by CPU
//     features or HARDNEG_KERNEL), and each block is scored against every
//     query chunk in L2-sized pieces; a score below a query's current k-th
//     costs one vector comparison. A tile's Kernel, when set, replaces the
//     engine; a kernel must score a pair the same way wherever it sits in a
//     block. Precision Quantized gives the same result faster: an int8
//     prefilter with a proven error bound, and exact rescoring of the rows
//     it cannot rule out (see quant.go). ScoreRows scores given rows with the
//     same engine.
//
//  3. Merge, per query block: Merge combines a query's Partials from all
//     shards; the result equals one search over the whole corpus (MergeTop
//     is the k-way merge of the candidate lists). Selection.Window then applies
//     the selection rules and returns the query's Window: its surviving
//     candidates in preference order, its eligible easy negatives, and what
//     each rule removed.
//
//  4. Rebalance: a Picker (Selection.NewPicker) turns Windows into Rows. With
//     max_negative_frequency it must see the queries in global query order;
//     without it, any order will do.
//
//  5. Finalize: Stats.Add per row, Stats.Merge across blocks, then
//     Scores.Summary and Stats.MostFrequent for the manifest.
//
// # Selection semantics
//
// Pairs mode reproduces mine_hard_negatives: the pool is the top
// range_max + max_positives items of the whole corpus; positives are removed
// from it; absolute_margin removes a candidate when score + m > pos_min,
// relative_margin when score > pos_min − |pos_min|·m (pos_min: the query's
// lowest positive score), then max_score (score > max) and min_score
// (score < min), all in float32 as torch computes them; the first range_max
// survivors are kept and the first range_min of those dropped; top sampling
// takes the first num_negatives, random sampling a uniform sample (seeded
// by the query seed, so repeatable), sorted by score. The pool is never
// widened: a query can run short, and is counted. Positives whose id is not
// in the corpus have no vector: the caller counts them in max_positives and
// leaves them out of Tile.Positives. A query with no positive in the corpus
// has no anchor, and the margins remove nothing for it.
//
// Labeled mode: the pool is the top range_max items whose label differs
// from the query's; the anchor is the lowest score among the items sharing
// its label (the query itself excluded when it is a corpus row). Self mode:
// the pool is the top range_max items other than the query; margins are
// refused, as there are no positives.
//
// # Easy negatives
//
// Each query has a stream of distinct, uniformly random global rows
// (EasyDraw) that depends only on its seed and the corpus size, never on the
// sharding: every tile draws the same stream and scores the rows in its
// range. Selection.Window walks the merged stream in draw order and keeps rows
// that are not in the query's pool, not positives, not the query and not of
// its label: a uniform sample of the eligible rows, with exact scores. A row
// gets easy_negatives of them, and with fill_with_easy as many more as hard
// negatives are missing, never repeating a row or choosing a positive.
// Outside labeled mode the stream is long enough that a row is always full
// when the corpus has enough eligible rows.
//
// # max_negative_frequency
//
// Queries are taken one by one in global query order (query shard key order,
// then row order); each takes, in its preference order (score order for top
// sampling, its seeded random order for random sampling), the first
// num_negatives candidates that fewer than max_negative_frequency earlier
// queries have taken. The result depends only on the data and the spec, not
// on query blocks or worker order, and the Picker streams: it keeps only
// the counts.
//
// # Determinism
//
// Same inputs give bit-identical results whatever the number of cores,
// tiles, blocks or the precision. Random choices use SHA-256 for seeds and
// SplitMix64 for streams, written out here so they never change with the Go
// version.
//
// Every score of a process (search, positives, easy negatives, the
// quantized rescoring) comes from one engine, and every engine scores a pair
// the same way wherever it sits in a block. The engines fall in two groups
// that agree bit for bit within themselves, on any machine: the SIMD engines
// (avx512 and avx2 on x86-64, neon and neon-dot on arm64) compute each pair
// as one chain of fused multiply-adds in dimension order; the portable
// engine (go, on every architecture) rounds products and sums separately and
// may differ from them in the last bit. The int8 prefilter (precision
// quantized) only chooses which rows are scored exactly, so it changes
// nothing. A job whose workers mix the two groups can differ in the last bit
// of a score, and so in the order of two candidates whose scores differ only
// there; x86 and arm64 workers mix freely, but run HARDNEG_KERNEL=go on
// every worker of a job or on none. FAISS sums in yet another order (BLAS
// blocks), so its top-k ids equal ours except where scores tie to within
// float32 rounding.
package miner
