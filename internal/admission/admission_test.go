package admission

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// issueJob is the job of issue 14: range_max 3000000 on a 20,000-row corpus
// with 2,000 queries, which took a worker past 3 GB in the merge.
var issueJob = Job{Dim: 64, QueryRows: 2000, CorpusRows: 20000, MaxShardRows: 5000, QueryBlockRows: 2000,
	RangeMin: 0, RangeMax: 3000000, NumNegatives: 5, EasyNegatives: 2}

func TestAdmitRefusesAndSaysWhatFits(t *testing.T) {
	const budget = 1 << 30
	err := Admit(issueJob, budget)
	tb, ok := err.(*TooBig)
	if !ok {
		t.Fatalf("Admit = %v, want *TooBig", err)
	}
	t.Log(err)
	for _, want := range []string{"query_block_rows 2000", "range_max 3000000", "1.00 GiB", "a block's merge",
		"query_block_rows ≤ ", "range_max ≤ "} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not say %q", err, want)
		}
	}
	if tb.Need < 3<<30 {
		t.Errorf("need %s, want at least the 3 GB the issue saw", GiB(tb.Need))
	}
	// The values it names fit, and one more does not.
	for _, c := range []struct {
		field string
		set   func(j *Job, v int64)
		v     int64
	}{
		{"query_block_rows", func(j *Job, v int64) { j.QueryBlockRows = v }, tb.MaxBlockRows},
		{"range_max", func(j *Job, v int64) { j.RangeMax = int(v) }, tb.MaxRangeMax},
	} {
		j := issueJob
		c.set(&j, c.v)
		if err := Admit(j, budget); err != nil {
			t.Errorf("%s %d said to fit, but: %v", c.field, c.v, err)
		}
		c.set(&j, c.v+1)
		if Admit(j, budget) == nil {
			t.Errorf("%s %d fits too: %d is not the largest", c.field, c.v+1, c.v)
		}
	}
}

func TestAdmit(t *testing.T) {
	small := issueJob
	small.RangeMax = 50
	huge := issueJob
	huge.Dim, huge.MaxShardRows = 4096, 1_000_000
	tests := []struct {
		name   string
		job    Job
		budget int64
		want   string // "" admits
	}{
		{"fits", small, 1 << 30, ""},
		{"no budget", issueJob, 0, ""},
		{"range_max too big", issueJob, 1 << 30, "range_max ≤ "},
		{"shard too big for any block", huge, 1 << 30, "split the corpus into smaller shards"},
	}
	for _, tt := range tests {
		err := Admit(tt.job, tt.budget)
		if (err == nil) != (tt.want == "") || err != nil && !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Admit = %v, want %q", tt.name, err, tt.want)
		}
	}
}

func TestEstimateGrows(t *testing.T) {
	base := issueJob
	base.RangeMax = 100
	e0 := base.Estimate()
	for name, edit := range map[string]func(j *Job){
		"query_block_rows": func(j *Job) { j.QueryBlockRows *= 2; j.QueryRows *= 2 },
		"range_max":        func(j *Job) { j.RangeMax *= 2 },
		"dim":              func(j *Job) { j.Dim *= 2 },
		"shard rows":       func(j *Job) { j.MaxShardRows *= 2 },
	} {
		j := base
		edit(&j)
		e1 := j.Estimate()
		if e1.Tile+e1.Merge+e1.Rebalance <= e0.Tile+e0.Merge+e0.Rebalance {
			t.Errorf("doubling %s: estimates %+v, not above %+v", name, e1, e0)
		}
	}
}

func TestParseBytes(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		bad  bool
	}{
		{in: "1024", want: 1024},
		{in: "8GiB", want: 8 << 30},
		{in: "512MiB", want: 512 << 20},
		{in: "64 KiB", want: 64 << 10},
		{in: "1.5GiB", want: 3 << 29},
		{in: "2TiB", want: 2 << 40},
		{in: "100B", want: 100},
		{in: "", bad: true},
		{in: "8GB", bad: true},
		{in: "-1GiB", bad: true},
		{in: "lots", bad: true},
		{in: "99999999TiB", bad: true},
	}
	for _, tt := range tests {
		got, err := ParseBytes(tt.in)
		if (err != nil) != tt.bad || got != tt.want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d (bad %v)", tt.in, got, err, tt.want, tt.bad)
		}
	}
}

func TestBudgetFrom(t *testing.T) {
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	meminfo := file("meminfo", "MemTotal:       16777216 kB\nMemFree: 1 kB\n") // 16 GiB
	v2 := file("v2", "4294967296\n")                                           // 4 GiB
	v2max := file("v2max", "max\n")
	v1none := file("v1none", "9223372036854771712\n")
	missing := filepath.Join(dir, "missing")
	tests := []struct {
		name        string
		v2, v1, mem string
		want        int64
	}{
		{"cgroup v2 limit", v2, missing, meminfo, 4<<30 - 4<<30/10},
		{"v2 unlimited, v1 unlimited: physical", v2max, v1none, meminfo, 16<<30 - 16<<30/10},
		{"v1 limit", missing, v2, meminfo, 4<<30 - 4<<30/10},
		{"cgroup above physical", file("big", "68719476736"), missing, meminfo, 16<<30 - 16<<30/10},
		{"small: margin 256 MiB", file("small", "1073741824"), missing, meminfo, 1<<30 - 256<<20},
		{"nothing readable", missing, missing, missing, 0},
	}
	for _, tt := range tests {
		if got, src := budgetFrom(tt.v2, tt.v1, tt.mem); got != tt.want {
			t.Errorf("%s: budget %d from %s, want %d", tt.name, got, src, tt.want)
		}
	}
}
