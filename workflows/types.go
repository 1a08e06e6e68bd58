package workflows

import "strings"

import "time"

// Names under which the workflows are registered. Clients start a job by
// WorkflowName; the block workflow is internal and started only as a child.
const (
	WorkflowName      = "MineHardNegatives"
	BlockWorkflowName = "MineHardNegativesBlock"
)

// Names of the activities the workflows call. They are the method names of
// activities.Activities, so registering that struct with a worker registers
// exactly these.
const (
	PlanActivity       = "Plan"
	MineTileActivity   = "MineTile"
	MergeBlockActivity = "MergeBlock"
	RebalanceActivity  = "Rebalance"
	FinalizeActivity   = "Finalize"
	FinishedActivity   = "Finished"
)

// ErrInvalidInput is the application error type of bad input (a bad spec, a
// shard with a missing column or a wrong dimension...). It is never retried:
// the job fails at once with the message, which names the shard and column.
const ErrInvalidInput = "InvalidInput"

// ErrStorageUnreachable is the application error type of a store that did
// not answer at all (connection refused, no route, a dial that timed out).
// It is retried, since the store may come back; the job's progress and
// current details say that it is waiting, and for what.
const ErrStorageUnreachable = "StorageUnreachable"

// ErrWorkerVanished is the application error type of a job that stopped
// because the workers running one of its activities vanished (stopped
// heartbeating: killed, out of memory, cut off) vanishRestarts+1 times in a
// row. A job that kills its workers must not take more of them down.
const ErrWorkerVanished = "WorkerVanished"

// TileTaskQueue is the task queue of the MineTile activity for a job whose
// workflow runs on taskQueue. Mining a tile uses every core, so a worker runs
// one at a time on this queue, and the light activities beside it on
// taskQueue itself.
func TileTaskQueue(taskQueue string) string { return taskQueue + "-tiles" }

// PlanInput is the input of the Plan activity.
type PlanInput struct {
	Spec Spec `json:"spec"` // with defaults applied and validated
}

// PlanResult is what the plan tells the workflow. The shard list itself stays in
// storage (WorkPrefix + "plan.json"); only counts travel through Temporal.
type PlanResult struct {
	// Fingerprint hashes every input shard's key, size and ETag and the spec
	// fields that affect results. Checkpoints live under _work/<Fingerprint>/.
	Fingerprint string `json:"fingerprint"`
	// WorkPrefix is the key prefix of the checkpoints, relative to the output.
	WorkPrefix   string `json:"work_prefix"`
	QueryShards  int    `json:"query_shards"`
	CorpusShards int    `json:"corpus_shards"`
	QueryRows    int64  `json:"query_rows"`
	CorpusRows   int64  `json:"corpus_rows"`
	Dim          int    `json:"dim"`
	// Blocks is the number of query blocks: ceil(QueryRows / query_block_rows).
	// Block b holds the query rows [b*query_block_rows, (b+1)*query_block_rows).
	Blocks int `json:"blocks"`
	// RangeMax is the effective range_max (derived when the spec left it 0).
	RangeMax int `json:"range_max"`
	// MaxPositives is the most positives any query has (pairs mode).
	MaxPositives int `json:"max_positives"`
	// DoneTiles is a bitmap over tile index b*CorpusShards+s of the tiles whose
	// partial already exists; DoneBlocks is one over blocks whose merged
	// candidates exist. A job started again after a failure skips them.
	DoneTiles  Bitmap `json:"done_tiles,omitempty"`
	DoneBlocks Bitmap `json:"done_blocks,omitempty"`
}

// Tiles is the number of tiles of the plan.
func (p PlanResult) Tiles() int { return p.Blocks * p.CorpusShards }

// BlockRows is the number of query rows in block b.
func (p PlanResult) BlockRows(spec Spec, b int) int64 {
	lo, hi := BlockRange(spec, p.QueryRows, b)
	return hi - lo
}

// BlockRange returns the global query rows [lo, hi) of query block b of a
// job of queryRows queries; lo >= hi for a block past the last.
func BlockRange(spec Spec, queryRows int64, b int) (lo, hi int64) {
	lo = int64(b) * int64(spec.QueryBlockRows)
	return lo, min(lo+int64(spec.QueryBlockRows), queryRows)
}

// BlockCount is the number of query blocks of a job of queryRows queries.
func BlockCount(spec Spec, queryRows int64) int {
	n := int64(spec.QueryBlockRows)
	return int((queryRows + n - 1) / n)
}

// WithSlash returns the URI prefix p ending in a slash, so that a key can be
// appended to it.
func WithSlash(p string) string {
	if strings.HasSuffix(p, "/") {
		return p
	}
	return p + "/"
}

// TileInput is the input of MineTile: one query block against one corpus shard.
type TileInput struct {
	Spec        Spec   `json:"spec"`
	Fingerprint string `json:"fingerprint"`
	Block       int    `json:"block"`
	Shard       int    `json:"shard"`
}

// TileResult is what MineTile reports.
type TileResult struct {
	Block   int  `json:"block"`
	Shard   int  `json:"shard"`
	Skipped bool `json:"skipped"` // the partial existed: nothing was mined
	// QueryRows and CorpusRows are the sizes of the tile.
	QueryRows  int64 `json:"query_rows"`
	CorpusRows int64 `json:"corpus_rows"`
	BytesRead  int64 `json:"bytes_read"`
}

// MergeInput is the input of MergeBlock.
type MergeInput struct {
	Spec        Spec   `json:"spec"`
	Fingerprint string `json:"fingerprint"`
	Block       int    `json:"block"`
}

// MergeResult summarises one merged block.
type MergeResult struct {
	Block   int   `json:"block"`
	Skipped bool  `json:"skipped"` // the merged candidates existed already
	Queries int64 `json:"queries"`
	// Short counts queries with fewer hard negatives than num_negatives.
	Short int64 `json:"short"`
}

// RebalanceInput is the input of Rebalance.
type RebalanceInput struct {
	Spec        Spec   `json:"spec"`
	Fingerprint string `json:"fingerprint"`
	Blocks      int    `json:"blocks"`
	// Follow has Rebalance start while blocks are still mined and wait for
	// each block's merged candidates in turn; without it a block not merged
	// yet is an error. The job sets it from version 1 of
	// changeRebalanceWhileMining on.
	Follow bool `json:"follow,omitempty"`
}

// RebalanceResult summarises the written parts.
type RebalanceResult struct {
	Parts         int   `json:"parts"`
	Rows          int64 `json:"rows"` // rows written over all parts
	HardNegatives int64 `json:"hard_negatives"`
	EasyNegatives int64 `json:"easy_negatives"`
	// Capped counts hard negatives replaced because of max_negative_frequency.
	Capped int64 `json:"capped"`
	Short  int64 `json:"short"`
}

// FinalizeInput is the input of Finalize.
type FinalizeInput struct {
	Spec        Spec        `json:"spec"`
	Fingerprint string      `json:"fingerprint"`
	Blocks      int         `json:"blocks"`
	Phases      []PhaseTime `json:"phases"` // for the manifest
}

// FinalizeResult names what Finalize wrote.
type FinalizeResult struct {
	Manifest string `json:"manifest"` // key of _manifest.json, relative to the output
	Success  string `json:"success"`  // key of _SUCCESS
}

// FinishedInput is the input of Finished.
type FinishedInput struct {
	Spec Spec `json:"spec"` // with defaults applied and validated
}

// FinishedResult says whether the output already holds the finished result
// of the spec's inputs: _SUCCESS, a _manifest.json whose fingerprint is the
// one the inputs have now, and every part the manifest lists. When it does,
// the rest describes that result, from the manifest.
type FinishedResult struct {
	Finished bool `json:"finished"`
	// Reason says why the output cannot be reused, when it cannot ("no
	// _SUCCESS", "fingerprint abc… in the manifest, the inputs have def…").
	Reason       string          `json:"reason,omitempty"`
	Fingerprint  string          `json:"fingerprint,omitempty"`
	Manifest     string          `json:"manifest,omitempty"` // key of _manifest.json
	QueryShards  int             `json:"query_shards,omitempty"`
	CorpusShards int             `json:"corpus_shards,omitempty"`
	QueryRows    int64           `json:"query_rows,omitempty"`
	CorpusRows   int64           `json:"corpus_rows,omitempty"`
	Blocks       int             `json:"blocks,omitempty"`
	Rebalance    RebalanceResult `json:"rebalance"` // from the manifest's statistics
}

// PhaseTime is when one phase of a job ran.
type PhaseTime struct {
	Name  string    `json:"name"`
	Start time.Time `json:"start"`
	End   time.Time `json:"end,omitzero"`
}

// Result is the result of a finished job.
type Result struct {
	Output       string          `json:"output"`
	Fingerprint  string          `json:"fingerprint"`
	Manifest     string          `json:"manifest"`
	Queries      int64           `json:"queries"`
	Blocks       int             `json:"blocks"`
	TilesTotal   int             `json:"tiles_total"`
	TilesMined   int             `json:"tiles_mined"`
	TilesSkipped int             `json:"tiles_skipped"`
	Rebalance    RebalanceResult `json:"rebalance"`
	Phases       []PhaseTime     `json:"phases"`
	// Reused is true when the output already held the finished result of the
	// same inputs: the job returned it without mining (TilesMined is 0) or
	// writing anything, and the counts come from its _manifest.json.
	Reused bool `json:"reused,omitempty"`
}

// Bitmap is a set of small non-negative integers, one bit each. It travels as
// base64 in JSON, so a plan of 100,000 tiles costs about 17 kB.
type Bitmap []byte

// NewBitmap returns an empty bitmap for n elements.
func NewBitmap(n int) Bitmap { return make(Bitmap, (n+7)/8) }

// Has reports whether i is in the set; outside the bitmap it is not.
func (b Bitmap) Has(i int) bool {
	return i >= 0 && i/8 < len(b) && b[i/8]&(1<<(i%8)) != 0
}

// Set adds i, which must be inside the bitmap.
func (b Bitmap) Set(i int) { b[i/8] |= 1 << (i % 8) }
