package activities

import (
	"fmt"
	"strconv"

	"github.com/hardneg/hardneg/dataset"
)

// The ids of the input, as the activities hold them between reading a
// shard and writing a checkpoint or part.

// idText is id i as the checkpoints hold it: the string itself, or an int64 in
// decimal. (dataset's IDs.Format quotes strings, for messages.)
func idText(ids dataset.IDs, i int) string {
	if s := ids.Strings(); s != nil {
		return s[i]
	}
	return strconv.FormatInt(ids.Int64s()[i], 10)
}

// queryID and labelValue hold a string or an int64 id, whichever the column has.
type queryID = idValue
type labelValue = idValue

// idValue is an id of either kind: S for a string column, I for an int64 one.
type idValue struct {
	S string
	I int64
}

// idAt returns id i of ids.
func idAt(ids dataset.IDs, i int) idValue {
	if s := ids.Strings(); s != nil {
		return idValue{S: s[i]}
	}
	return idValue{I: ids.Int64s()[i]}
}

// format formats the id, of kind (a dataset.Kind's name), as QuerySeed and
// messages want it.
func (v idValue) format(kind string) string {
	if kind == dataset.String.String() {
		return v.S
	}
	return fmt.Sprint(v.I)
}
