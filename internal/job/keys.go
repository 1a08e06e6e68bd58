package job

import (
	"fmt"
	"strings"
)

// Keys of the output store, relative to the output prefix (docs/design.md,
// "Checkpoints under _work/").
const (
	SuccessKey  = "_SUCCESS"
	ManifestKey = "_manifest.json"
	workRoot    = "_work/"
	// ProbeKey is the object Plan writes and deletes to prove the output
	// writable.
	ProbeKey = workRoot + "probe"
)

// WorkPrefix is the folder of a job's checkpoints.
func WorkPrefix(fingerprint string) string { return workRoot + fingerprint + "/" }

// PlanKey is the key of a job's plan.
func PlanKey(fingerprint string) string { return WorkPrefix(fingerprint) + "plan.json" }

// ckpt ends the name of every checkpoint file: they are hardneg's own binary
// layout (package internal/checkpoint), not Parquet, and a name must not
// suggest another tool could read them.
const ckpt = ".ckpt"

// TileKey is the key of the partial result of one tile.
//
// Checkpoint keys number blocks and shards with five digits, the workflow's
// activity and child workflow IDs with six (workflows). They stay so: a
// changed key would make a running job mine its finished tiles again on
// resume, and a changed ID would break the replay of recorded histories.
func TileKey(fingerprint string, block, shard int) string {
	return fmt.Sprintf("%stile-b%05d-s%05d"+ckpt, WorkPrefix(fingerprint), block, shard)
}

// BlockKey is the key of the merged candidate windows of one query block.
func BlockKey(fingerprint string, block int) string {
	return fmt.Sprintf("%sblock-b%05d"+ckpt, WorkPrefix(fingerprint), block)
}

// StatsKey is the key of the statistics Rebalance leaves for Finalize.
func StatsKey(fingerprint string) string { return WorkPrefix(fingerprint) + "stats.json" }

// PartKey is the key of the output part of one query block.
func PartKey(block int) string { return fmt.Sprintf("part-%05d.parquet", block) }

// ParseWorkKey recognises the name of a tile or block checkpoint inside a
// work prefix: kind is "tile" or "block".
func ParseWorkKey(name string) (kind string, block, shard int, ok bool) {
	if n, err := fmt.Sscanf(name, "tile-b%05d-s%05d"+ckpt, &block, &shard); err == nil && n == 2 &&
		name == fmt.Sprintf("tile-b%05d-s%05d"+ckpt, block, shard) {
		return "tile", block, shard, true
	}
	if n, err := fmt.Sscanf(name, "block-b%05d"+ckpt, &block); err == nil && n == 1 &&
		name == fmt.Sprintf("block-b%05d"+ckpt, block) {
		return "block", block, 0, true
	}
	return "", 0, 0, false
}

// PartBlock returns the block of a key named exactly as PartKey names parts.
func PartBlock(key string) (int, bool) {
	var b int
	if !isPart(key) {
		return 0, false
	}
	if _, err := fmt.Sscanf(key, "part-%d.parquet", &b); err != nil || PartKey(b) != key {
		return 0, false
	}
	return b, true
}

// isPart reports whether key names an output part.
func isPart(key string) bool {
	return strings.HasPrefix(key, "part-") && strings.HasSuffix(key, ".parquet") && !strings.Contains(key, "/")
}
