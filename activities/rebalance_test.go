package activities

import (
	"testing"
)

// TestMissingPositives checks that only distinct ids absent from the output
// count as positives not in the corpus: a repeated id found once is not
// missing, and a repeated absent id is one missing positive.
func TestMissingPositives(t *testing.T) {
	tests := []struct {
		input, found []string
		want         int64
	}{
		{[]string{"a", "b"}, []string{"a", "b"}, 0},
		{[]string{"a", "a", "b"}, []string{"a", "b"}, 0},
		{[]string{"a", "x"}, []string{"a"}, 1},
		{[]string{"x", "x", "a"}, []string{"a"}, 1},
		{[]string{"x", "y"}, nil, 2},
		{nil, nil, 0},
	}
	for _, tt := range tests {
		if got := missingPositives(tt.input, tt.found); got != tt.want {
			t.Errorf("missingPositives(%q, %q) = %d, want %d", tt.input, tt.found, got, tt.want)
		}
	}
}
