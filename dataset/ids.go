package dataset

import (
	"fmt"
	"strconv"
)

// Kind is the type of an id or label column.
type Kind uint8

// The kinds of id and label columns. A Parquet BYTE_ARRAY column is a String;
// INT64 and INT32 integer columns are Int64.
const (
	String Kind = iota + 1
	Int64
)

// String returns "string" or "int64".
func (k Kind) String() string {
	switch k {
	case String:
		return "string"
	case Int64:
		return "int64"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// IDs is a column of ids or labels that keeps its input type: either strings
// or int64s, never a mix. The zero value is an empty column of no kind.
type IDs struct {
	kind Kind
	strs []string
	ints []int64
}

// StringIDs returns string ids backed by s (not copied).
func StringIDs(s []string) IDs { return IDs{kind: String, strs: s} }

// Int64IDs returns int64 ids backed by v (not copied).
func Int64IDs(v []int64) IDs { return IDs{kind: Int64, ints: v} }

// Kind returns String or Int64, or 0 for the zero IDs.
func (ids IDs) Kind() Kind { return ids.kind }

// Len returns the number of ids.
func (ids IDs) Len() int {
	if ids.kind == String {
		return len(ids.strs)
	}
	return len(ids.ints)
}

// Strings returns the ids of a String column, nil otherwise.
func (ids IDs) Strings() []string { return ids.strs }

// Int64s returns the ids of an Int64 column, nil otherwise.
func (ids IDs) Int64s() []int64 { return ids.ints }

// Format returns id i as text, for messages.
func (ids IDs) Format(i int) string {
	if ids.kind == String {
		return strconv.Quote(ids.strs[i])
	}
	return strconv.FormatInt(ids.ints[i], 10)
}

// Slice returns ids [i, j), sharing memory with ids.
func (ids IDs) Slice(i, j int) IDs {
	if ids.kind == String {
		return IDs{kind: String, strs: ids.strs[i:j]}
	}
	return IDs{kind: ids.kind, ints: ids.ints[i:j]}
}

// Lists holds one list of ids per row, such as the positives of each query,
// as one flat column and row offsets: row r's ids are IDs[Offsets[r]:Offsets[r+1]].
// Offsets has one more element than there are rows.
type Lists struct {
	Offsets []int64
	IDs     IDs
}

// Len returns the number of rows.
func (l Lists) Len() int { return max(len(l.Offsets)-1, 0) }

// Row returns the ids of row r.
func (l Lists) Row(r int) IDs { return l.IDs.Slice(int(l.Offsets[r]), int(l.Offsets[r+1])) }
