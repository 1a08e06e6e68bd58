package dataset

import (
	"fmt"
	"strings"
)

// InputError reports input that can never be read as asked, however often it
// is retried: a missing column, a wrong type, a row of another dimension, a
// null or non-finite embedding, an empty shard, a duplicate id, a truncated or
// non-Parquet file. Callers find it with errors.As and mark the failure as
// non-retryable. Errors of the underlying reader (a network failure, a
// cancelled context) are never wrapped in an InputError.
type InputError struct {
	Object string // the shard or file, as named by the caller
	Column string // the column, or "" when the whole file is at fault
	Row    int64  // the 0-based row within the object, or -1 when no one row is at fault
	Reason string // what is wrong, in words
}

// Error formats the error as "object: column C: row R: reason", leaving out
// the parts that do not apply.
func (e *InputError) Error() string {
	var b strings.Builder
	b.WriteString(e.Object)
	if e.Column != "" {
		fmt.Fprintf(&b, ": column %q", e.Column)
	}
	if e.Row >= 0 {
		fmt.Fprintf(&b, ": row %d", e.Row)
	}
	b.WriteString(": ")
	b.WriteString(e.Reason)
	return b.String()
}

// inputErrorf returns an *InputError whose reason is formatted like fmt.Sprintf.
func inputErrorf(object, column string, row int64, format string, args ...any) *InputError {
	return &InputError{Object: object, Column: column, Row: row, Reason: fmt.Sprintf(format, args...)}
}
