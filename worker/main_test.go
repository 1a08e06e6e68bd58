package main

import (
	"strings"
	"testing"
)

// TestCacheBudget checks that -cache is taken out of the jobs' memory
// budget, and refused where it leaves nothing.
func TestCacheBudget(t *testing.T) {
	for _, tc := range []struct {
		flag       string
		budget     int64
		cache, job int64
		err        string
	}{
		{"", 8 << 30, 0, 8 << 30, ""},
		{"1GiB", 8 << 30, 1 << 30, 7 << 30, ""},
		{"512MiB", 0, 512 << 20, 0, ""}, // an unknown budget stays unknown
		{"8GiB", 8 << 30, 0, 0, "leaves nothing"},
		{"lots", 8 << 30, 0, 0, "-cache"},
	} {
		cache, job, err := cacheBudget(tc.flag, tc.budget)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q of %d: error %v, want one saying %q", tc.flag, tc.budget, err, tc.err)
			}
			continue
		}
		if err != nil || cache != tc.cache || job != tc.job {
			t.Errorf("%q of %d: %d, %d, %v; want %d, %d", tc.flag, tc.budget, cache, job, err, tc.cache, tc.job)
		}
	}
}
