// Package reader reads what the activities need of a job's input shards, by
// the plan's global row order: a corpus shard whole (ReadShard), the rows of
// a query block with or without their embeddings (ReadQueryBlock,
// ReadQueryMeta), the texts of a part's rows (BlockTexts) and the ids of a
// few corpus rows (CorpusIDs); and the bytes of a shard a tile fetches ahead
// (Fetch), which the reads then decode instead of reading the store.
//
// It opens shards through package inputs and knows nothing of Temporal:
// bad input is a *dataset.InputError or a *job.InvalidError.
package reader

import (
	"fmt"
	"strconv"

	"github.com/hardneg/hardneg/dataset"
)

// ID is an input id of either kind, as the reads hold them between a shard
// and a checkpoint or part: S for a string column, I for an int64 one.
type ID struct {
	S string
	I int64
}

// IDAt returns id i of ids.
func IDAt(ids dataset.IDs, i int) ID {
	if s := ids.Strings(); s != nil {
		return ID{S: s[i]}
	}
	return ID{I: ids.Int64s()[i]}
}

// Format formats the id, of kind (a dataset.Kind's name), as
// miner.QuerySeed and the checkpoints want it.
func (v ID) Format(kind string) string {
	if kind == dataset.String.String() {
		return v.S
	}
	return fmt.Sprint(v.I)
}

// IDText is id i of ids as the checkpoints hold it: the string itself, or
// an int64 in decimal. (dataset's IDs.Format quotes strings, for messages.)
func IDText(ids dataset.IDs, i int) string {
	if s := ids.Strings(); s != nil {
		return s[i]
	}
	return strconv.FormatInt(ids.Int64s()[i], 10)
}
