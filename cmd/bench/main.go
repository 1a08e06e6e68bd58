// Command bench times hardneg's exact top-k search on .npy data, beside
// FAISS's ../shared/bench/faiss_flat.py on the same files:
//
//	go run ./cmd/bench --queries Q.npy --corpus C.npy --k 100 [--ids OUT.npy] [--precision exact|quantized]
//
// It prints one line in faiss_flat.py's format, with the kernel, precision
// and memory added at the end:
//
//	hardneg_bench nq=.. nb=.. d=.. k=.. threads=.. seconds=.. gflops=.. kernel=.. precision=.. peak_mib=.. limit_mib=.. [rescored=.. gave_up_at_row=.. checked=..]
//
// seconds covers the search alone (one miner.SearchTile over the whole
// corpus, as FAISS's timing covers index.search alone); gflops counts
// 2·nq·nb·d operations. precision is exact or quantized(ENGINE), the int8
// engine, with ":ran-exact" after it where the search ran exact (no int8
// engine on this CPU, fewer queries than the prefilter pays for, a k so
// large beside nb that the rows entering the top k cost more than the
// prefilter saves, data beyond its bound's range). peak_mib is the
// process's peak resident memory and limit_mib the tile budget 1.5 × (query
// + corpus bytes) + the candidates (nq × min(k, nb) × 16 bytes) + 64 MiB.
// --ids writes the top-k corpus row numbers as an int64 .npy (nq × k, best
// first, −1 where the corpus has fewer than k rows). --faiss-ids compares them with
// FAISS's and prints a second line: how many ids differ, and whether each
// difference is a tie (FAISS sums in another order, so rows whose scores
// agree to within float32 rounding may swap at the k-th place).
package main

import (
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/hardneg/hardneg/miner"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run() error {
	queries := flag.String("queries", "", "queries .npy (float32, rows × d)")
	corpus := flag.String("corpus", "", "corpus .npy (float32, rows × d)")
	k := flag.Int("k", 100, "neighbours per query")
	ids := flag.String("ids", "", "write the top-k row numbers here (int64 .npy)")
	precision := flag.String("precision", "exact", "exact or quantized")
	threads := flag.Int("threads", 0, "cores to use (0: GOMAXPROCS)")
	faissIDs := flag.String("faiss-ids", "", "compare with these FAISS ids (int64 .npy)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the search here")
	flag.Parse()
	if *queries == "" || *corpus == "" {
		return fmt.Errorf("--queries and --corpus are required")
	}
	if *threads > 0 {
		runtime.GOMAXPROCS(*threads)
	}
	q, err := readMatrix(*queries)
	if err != nil {
		return err
	}
	c, err := readMatrix(*corpus)
	if err != nil {
		return err
	}
	tile := miner.Tile{Queries: q, Corpus: c, K: *k, Precision: miner.Precision(*precision)}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return fmt.Errorf("create profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("start profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	start := time.Now()
	res, rep, err := miner.SearchTileReport(context.Background(), tile)
	if err != nil {
		return err
	}
	secs := time.Since(start).Seconds()
	printLine(q, c, *k, *precision, secs, rep)
	top := make([]int64, q.Rows**k)
	for i, p := range res {
		for j := range *k {
			top[i**k+j] = -1
			if j < len(p.Top) {
				top[i**k+j] = p.Top[j].Row
			}
		}
	}
	if *ids != "" {
		if err := writeIDs(*ids, top, q.Rows, *k); err != nil {
			return err
		}
	}
	if *faissIDs != "" {
		return compareFAISS(*faissIDs, res, q, c, *k)
	}
	return nil
}

// printLine prints the result line (the package doc's format) of a search
// of q against c that took secs and ran as rep says.
func printLine(q, c miner.Matrix, k int, precision string, secs float64, rep miner.Report) {
	exactEngine, quantEngine := miner.Engines()
	prec := precision
	if prec == string(miner.Quantized) {
		switch {
		case quantEngine == "":
			quantEngine = "none:ran-exact"
		case rep.Prefilter == "": // too few queries, k large beside nb, or data beyond the bound's range
			quantEngine += ":ran-exact"
		}
		prec += "(" + quantEngine + ")"
	}
	dataMiB := float64(4*(len(q.Data)+len(c.Data))) / (1 << 20)
	// Each query keeps up to k candidates of 16 bytes (miner.Candidate) in
	// one arena: 305 MiB of the 327 MiB peak at 20,000 × 20,000 × 64, k = 1,000.
	candMiB := float64(q.Rows) * float64(min(k, c.Rows)) * 16 / (1 << 20)
	fmt.Printf("hardneg_bench nq=%d nb=%d d=%d k=%d threads=%d seconds=%.3f gflops=%.1f kernel=%s precision=%s peak_mib=%.0f limit_mib=%.0f",
		q.Rows, c.Rows, c.Dim, k, runtime.GOMAXPROCS(0), secs, 2*float64(q.Rows)*float64(c.Rows)*float64(c.Dim)/secs/1e9,
		exactEngine, prec, peakMiB(), 1.5*dataMiB+candMiB+64)
	if rep.Prefilter != "" { // how the prefilter fared (miner.Report)
		fmt.Printf(" rescored=%d gave_up_at_row=%d checked=%d", rep.Rescored, rep.GaveUpAt, rep.Checked)
	}
	fmt.Println()
}

// compareFAISS prints how FAISS's top-k sets differ from ours, and checks
// that each difference is a tie: a row FAISS has and we do not must score
// (in float64) within tieTol of our k-th score.
func compareFAISS(path string, res []miner.Partial, q, c miner.Matrix, k int) error {
	theirs, rows, cols, err := readInt64(path)
	if err != nil {
		return err
	}
	if rows != q.Rows || cols != k {
		return fmt.Errorf("%s is %d×%d, want %d×%d", path, rows, cols, q.Rows, k)
	}
	var differ, ties int
	worst := 0.0
	for i, p := range res {
		ours := map[int64]bool{}
		for _, cand := range p.Top {
			ours[cand.Row] = true
		}
		kth := float64(p.Top[len(p.Top)-1].Score)
		for _, r := range theirs[i*k : (i+1)*k] {
			if r < 0 || ours[r] {
				continue
			}
			differ++
			s := dot64(q.Row(i), c.Row(int(r)))
			gap := math.Abs(s-kth) / math.Max(math.Abs(kth), 1e-30)
			worst = max(worst, gap)
			if gap <= tieTol {
				ties++
			}
		}
	}
	fmt.Printf("faiss_ids queries=%d k=%d differ=%d ties=%d other=%d worst_rel_gap=%.2g\n", q.Rows, k, differ, ties, differ-ties, worst)
	if differ != ties {
		return fmt.Errorf("%d ids differ from FAISS by more than a tie", differ-ties)
	}
	return nil
}

// tieTol is the relative score gap under which two rows count as tied: a
// few float32 roundings of a sum of d products.
const tieTol = 1e-5

func dot64(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

var shapeRE = regexp.MustCompile(`'shape':\s*\((\d+),\s*(\d+)\)`)

// readHeader reads an .npy header and returns the dtype descr and the 2-d
// shape.
func readHeader(r io.Reader, path string) (descr string, rows, cols int, err error) {
	var pre [10]byte
	if _, err := io.ReadFull(r, pre[:]); err != nil {
		return "", 0, 0, fmt.Errorf("read header of %s: %w", path, err)
	}
	if string(pre[:6]) != "\x93NUMPY" {
		return "", 0, 0, fmt.Errorf("%s is not an .npy file", path)
	}
	hlen := int(binary.LittleEndian.Uint16(pre[8:10]))
	if pre[6] >= 2 {
		var ext [2]byte
		if _, err := io.ReadFull(r, ext[:]); err != nil {
			return "", 0, 0, fmt.Errorf("read header of %s: %w", path, err)
		}
		hlen |= int(binary.LittleEndian.Uint16(ext[:])) << 16
	}
	h := make([]byte, hlen)
	if _, err := io.ReadFull(r, h); err != nil {
		return "", 0, 0, fmt.Errorf("read header of %s: %w", path, err)
	}
	hs := string(h)
	if strings.Contains(hs, "'fortran_order': True") {
		return "", 0, 0, fmt.Errorf("%s is in Fortran order; save it in C order", path)
	}
	m := shapeRE.FindStringSubmatch(hs)
	if m == nil {
		return "", 0, 0, fmt.Errorf("%s: want a 2-d array, header %q", path, hs)
	}
	rows, _ = strconv.Atoi(m[1])
	cols, _ = strconv.Atoi(m[2])
	for _, d := range []string{"<f4", "<i8"} {
		if strings.Contains(hs, "'"+d+"'") {
			return d, rows, cols, nil
		}
	}
	return "", 0, 0, fmt.Errorf("%s: dtype in %q is neither <f4 nor <i8", path, hs)
}

// readMatrix reads a float32 .npy straight into the matrix's memory, so the
// process holds the data once (the peak-memory figure depends on it).
func readMatrix(path string) (miner.Matrix, error) {
	f, err := os.Open(path)
	if err != nil {
		return miner.Matrix{}, fmt.Errorf("open queries or corpus: %w", err)
	}
	defer f.Close()
	descr, rows, cols, err := readHeader(f, path)
	if err != nil {
		return miner.Matrix{}, err
	}
	if descr != "<f4" {
		return miner.Matrix{}, fmt.Errorf("%s holds %s, want float32 (<f4)", path, descr)
	}
	m := miner.NewMatrix(rows, cols)
	if _, err := io.ReadFull(f, unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(m.Data))), 4*len(m.Data))); err != nil {
		return miner.Matrix{}, fmt.Errorf("read %s: %w", path, err)
	}
	touch(m.Data)
	return m, nil
}

// sink keeps touch's reads: the compiler drops no store to a package
// variable, so the loop stays.
//
//lint:ignore U1000 written only, on purpose
var sink float32

// touch reads one value of every page. Here the first access to each page
// of a freshly read file costs about 2.5 µs (0.5 s for 300 MB), which would
// land in the timed search; FAISS's untimed index.add copies the corpus, and
// so pays it before its timed search too.
func touch(v []float32) {
	for i := 0; i < len(v); i += 1024 {
		sink += v[i]
	}
}

func readInt64(path string) ([]int64, int, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("open ids: %w", err)
	}
	defer f.Close()
	descr, rows, cols, err := readHeader(f, path)
	if err != nil {
		return nil, 0, 0, err
	}
	if descr != "<i8" {
		return nil, 0, 0, fmt.Errorf("%s holds %s, want int64 (<i8)", path, descr)
	}
	v := make([]int64, rows*cols)
	if _, err := io.ReadFull(f, unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(v))), 8*len(v))); err != nil {
		return nil, 0, 0, fmt.Errorf("read %s: %w", path, err)
	}
	return v, rows, cols, nil
}

// writeIDs writes ids as an int64 .npy of shape rows × cols (version 1.0,
// header padded to 64 bytes as NumPy does).
func writeIDs(path string, ids []int64, rows, cols int) error {
	header := fmt.Sprintf("{'descr': '<i8', 'fortran_order': False, 'shape': (%d, %d), }", rows, cols)
	pad := (64 - (10+len(header)+1)%64) % 64
	header += strings.Repeat(" ", pad) + "\n"
	buf := make([]byte, 0, 10+len(header)+8*len(ids))
	buf = append(buf, "\x93NUMPY\x01\x00"...)
	buf = binary.LittleEndian.AppendUint16(buf, uint16(len(header)))
	buf = append(buf, header...)
	for _, v := range ids {
		buf = binary.LittleEndian.AppendUint64(buf, uint64(v))
	}
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		return fmt.Errorf("write ids: %w", err)
	}
	return nil
}

// peakMiB returns the process's peak resident set (VmHWM), or 0 where
// /proc is not there.
func peakMiB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}
