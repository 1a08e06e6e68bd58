package activities

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hardneg/hardneg/internal/synth"
	"github.com/hardneg/hardneg/workflows"
)

// The memory of a mining tile is measured in a process of its own, so that
// nothing else the tests did is counted: TestTilePeakMemory writes the data
// and the plan, then runs this test binary again to mine one tile and report
// its peak resident memory (VmHWM, from /proc/self/status).

// tileMemEnv names the file that tells the child process which tile to mine.
const tileMemEnv = "HARDNEG_TILE_MEM_CHILD"

// tileMemReport is what the child prints: the peak resident memory of the
// process before and after the tile, and the most memory the Go runtime held
// (mapped and not returned) while the tile ran, sampled.
type tileMemReport struct {
	StartHWM   int64 `json:"start_hwm"`    // bytes
	PeakHWM    int64 `json:"peak_hwm"`     // bytes
	PeakGoHeld int64 `json:"peak_go_held"` // bytes
	Allocated  int64 `json:"allocated"`    // bytes allocated by the tile, in all
}

// tileMemSizes is the data of the measurement: HARDNEG_TILE_MEM=corpus,queries,dim,block
// (rows, rows, dimension, rows) changes it.
func tileMemSizes(t *testing.T) (corpus, queries, dim, block int) {
	corpus, queries, dim, block = 50_000, 60_000, 256, 2_000
	if v := os.Getenv("HARDNEG_TILE_MEM"); v != "" {
		if _, err := fmt.Sscanf(v, "%d,%d,%d,%d", &corpus, &queries, &dim, &block); err != nil {
			t.Fatalf("HARDNEG_TILE_MEM=%q: want corpus,queries,dim,block: %v", v, err)
		}
	}
	return corpus, queries, dim, block
}

// TestTilePeakMemory checks the promise of issue 5: the peak memory of a
// mining tile is at most 1.5 × (query block + corpus shard bytes) + 64 MiB,
// the bytes being the float32 embeddings. The tile's memory is the growth of
// the process's peak resident memory while it runs (the process itself, the
// Go runtime and the libraries, holds some 25 MiB before); the whole peak is
// logged too. The query shard is thirty blocks long, so a tile that read it
// whole (or kept it) would not fit.
func TestTilePeakMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 110 MB of shards")
	}
	if raceEnabled {
		t.Skip("peak memory means nothing under the race detector")
	}
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc/self/status to read the peak resident memory from")
	}
	nc, nq, dim, block := tileMemSizes(t)
	d := synth.Generate(synth.Config{Corpus: nc, Queries: nq, Dim: dim, Clusters: 20, MultiPosShare: 0.3, Seed: 5}, 0)
	root := t.TempDir()
	write := func(dir string, shard []byte) {
		if err := os.MkdirAll(filepath.Join(root, dir), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, dir, "s0.parquet"), shard, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cs, err := synth.Shards(d.Corpus, 1)
	if err != nil {
		t.Fatal(err)
	}
	write("c", cs[0])
	qs, err := synth.Shards(d.Queries, 1)
	if err != nil {
		t.Fatal(err)
	}
	write("q", qs[0])
	d = synth.Data{}
	spec := workflows.Spec{Run: "mem", Corpus: root + "/c/", Queries: root + "/q/", Output: root + "/o/",
		QueryBlockRows: block, NumNegatives: 5, EasyNegatives: 2}.WithDefaults()
	plan, err := quiet().Plan(context.Background(), workflows.PlanInput{Spec: spec})
	if err != nil {
		t.Fatal(err)
	}
	in := workflows.TileInput{Spec: spec, Fingerprint: plan.Fingerprint, Block: plan.Blocks / 2, Shard: 0}
	rep := measureStep(t, root, stepRun{Step: "tile", Tile: in})
	blockBytes := int64(block) * int64(dim) * 4
	shardBytes := int64(nc) * int64(dim) * 4
	bound := (blockBytes+shardBytes)*3/2 + 64<<20
	mib := func(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
	t.Logf("query block %d × %d (%s) of a %d-row query shard (%s), corpus shard %d × %d (%s)",
		block, dim, mib(blockBytes), nq, mib(int64(nq)*int64(dim)*4), nc, dim, mib(shardBytes))
	tile := rep.PeakHWM - rep.StartHWM
	t.Logf("tile %s: peak RSS %s, of which the process held %s before the tile; Go runtime held at most %s, the tile allocated %s in all",
		mib(tile), mib(rep.PeakHWM), mib(rep.StartHWM), mib(rep.PeakGoHeld), mib(rep.Allocated))
	t.Logf("bound 1.5 × (block + shard) + 64 MiB = %s: tile at %.0f%%, whole process at %.0f%%",
		mib(bound), 100*float64(tile)/float64(bound), 100*float64(rep.PeakHWM)/float64(bound))
	if tile > bound {
		t.Errorf("the tile's peak memory %s is over the bound %s", mib(tile), mib(bound))
	}
}

// stepRun is what the child process runs: one activity, by name.
type stepRun struct {
	Step      string                   `json:"step"` // "tile", "merge" or "rebalance"
	Tile      workflows.TileInput      `json:"tile"`
	Merge     workflows.MergeInput     `json:"merge"`
	Rebalance workflows.RebalanceInput `json:"rebalance"`
}

// run runs the step.
func (r stepRun) run(a *Activities) error {
	ctx := context.Background()
	switch r.Step {
	case "tile":
		res, err := a.MineTile(ctx, r.Tile)
		if err == nil && res.Skipped {
			err = fmt.Errorf("tile skipped")
		}
		return err
	case "merge":
		_, err := a.MergeBlock(ctx, r.Merge)
		return err
	case "rebalance":
		_, err := a.Rebalance(ctx, r.Rebalance)
		return err
	}
	return fmt.Errorf("unknown step %q", r.Step)
}

// measureStep runs the step in a child process (TestTileMemoryChild) and
// returns its report.
func measureStep(t *testing.T, dir string, r stepRun) tileMemReport {
	t.Helper()
	inFile := filepath.Join(dir, r.Step+".json")
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(inFile, data, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestTileMemoryChild$", "-test.v")
	cmd.Env = append(os.Environ(), tileMemEnv+"="+inFile)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	var rep tileMemReport
	for line := range strings.Lines(string(out)) {
		if s, ok := strings.CutPrefix(strings.TrimSpace(line), "tile-mem: "); ok {
			if err := json.Unmarshal([]byte(s), &rep); err != nil {
				t.Fatal(err)
			}
		}
	}
	if rep.PeakHWM == 0 {
		t.Fatalf("no report from the child:\n%s", out)
	}
	return rep
}

// TestTileMemoryChild runs the step TestTilePeakMemory or
// TestAdmissionBoundsMeasuredPeaks names, in its own process, and prints a
// tileMemReport. Run alone it does nothing.
func TestTileMemoryChild(t *testing.T) {
	inFile := os.Getenv(tileMemEnv)
	if inFile == "" {
		t.Skip("run by TestTilePeakMemory")
	}
	data, err := os.ReadFile(inFile)
	if err != nil {
		t.Fatal(err)
	}
	var r stepRun
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	var rep tileMemReport
	if rep.StartHWM, err = vmHWM(); err != nil {
		t.Fatal(err)
	}
	allocStart := goMetric("/gc/heap/allocs:bytes")
	stop := sampleGoHeld(&rep.PeakGoHeld)
	err = r.run(quiet())
	stop()
	if err != nil {
		t.Fatalf("%s: %v", r.Step, err)
	}
	rep.Allocated = goMetric("/gc/heap/allocs:bytes") - allocStart
	if rep.PeakHWM, err = vmHWM(); err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(rep)
	fmt.Printf("tile-mem: %s\n", out)
}

// vmHWM returns the peak resident memory of the process, in bytes.
func vmHWM() (int64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/self/status")
}

// goMetric reads one uint64 metric of the Go runtime.
func goMetric(name string) int64 {
	s := []metrics.Sample{{Name: name}}
	metrics.Read(s)
	return int64(s[0].Value.Uint64())
}

// sampleGoHeld keeps in *peak the most memory the Go runtime holds from the
// operating system (mapped, less what it returned), sampled every millisecond
// until stop is called.
func sampleGoHeld(peak *int64) (stop func()) {
	s := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(s)
			*peak = max(*peak, int64(s[0].Value.Uint64()-s[1].Value.Uint64()))
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	})
	return func() { close(done); wg.Wait() }
}
