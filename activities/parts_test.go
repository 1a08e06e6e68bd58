package activities

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/hardneg/hardneg/dataset"
	"github.com/hardneg/hardneg/workflows"
)

// partFiles returns the part files of an output in order.
func partFiles(t *testing.T, spec workflows.Spec) []string {
	t.Helper()
	names, _ := filepath.Glob(filepath.Join(strings.TrimPrefix(spec.Output, "file://"), "part-*.parquet"))
	slices.Sort(names)
	if len(names) == 0 {
		t.Fatal("no parts written")
	}
	return names
}

// triplet is one expected triplet; pos is "" when there is no positive.
type triplet struct {
	q, pos, neg, kind string
	score             float32
}

// tripletsOf expands n-tuple rows into the triplets a triplet part holds.
func tripletsOf(rows []outRow) []triplet {
	var out []triplet
	for _, r := range rows {
		positives := r.PositiveIDs
		if len(positives) == 0 {
			positives = []string{""}
		}
		for _, p := range positives {
			for i, n := range r.NegativeIDs {
				out = append(out, triplet{r.QueryID, p, n, r.NegativeKinds[i], r.NegativeScores[i]})
			}
		}
	}
	return out
}

func TestTripletParts(t *testing.T) {
	self := pairsData(90, 1)
	self.queries = nil
	for _, tt := range []struct {
		name string
		data dataSet
	}{
		{"pairs (dataset's triplets)", pairsData(120, 40)},
		{"self (no positive)", self},
	} {
		t.Run(tt.name, func(t *testing.T) {
			spec := layout(t, tt.data, 3, 2)
			spec.QueryBlockRows, spec.OutputFormat, spec.EasyNegatives = 16, "triplet", 1
			runJob(t, quiet(), spec)
			var got []triplet
			for _, name := range partFiles(t, spec) {
				for _, r := range readTyped[dataset.MixedTriplet[string, string]](t, mustRead(t, name)) {
					pos := ""
					if r.PositiveID != nil {
						pos = *r.PositiveID
					}
					got = append(got, triplet{r.QueryID, pos, r.NegativeID, r.Kind, r.NegativeScore})
				}
			}
			want := tripletsOf(reference(t, tt.data, spec))
			if len(want) == 0 || !slices.Equal(got, want) {
				t.Fatalf("%d triplets, want %d; first %v, want %v", len(got), len(want), first(got), first(want))
			}
		})
	}
	// A pairs-mode triplet part reads with dataset's own reader.
	spec := layout(t, pairsData(60, 10), 2, 1)
	spec.OutputFormat = "triplet"
	runJob(t, quiet(), spec)
	name := partFiles(t, spec)[0]
	if _, err := dataset.ReadTriplets[string](mustOpen(t, name)); err != nil {
		t.Errorf("dataset cannot read the triplet part: %v", err)
	}
}

func first(ts []triplet) any {
	if len(ts) == 0 {
		return nil
	}
	return ts[0]
}

func mustOpen(t *testing.T, name string) (*os.File, int64, string) {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	st, _ := f.Stat()
	return f, st.Size(), name
}

type mixedQueryRow struct {
	ID          string    `parquet:"id"`
	Embedding   []float32 `parquet:"embedding,list"`
	PositiveIDs []int64   `parquet:"positive_ids,list"`
}

// TestMixedIDKinds mines string query ids against int64 corpus ids: each keeps
// its type in the parts.
func TestMixedIDKinds(t *testing.T) {
	ds := labeledData(150, 30, 9) // int64 corpus ids
	root := t.TempDir()
	write(t, filepath.Join(root, "corpus"), ds.corpus, 2, true)
	var qrows []mixedQueryRow
	for i := range ds.queries {
		q := &ds.queries[i]
		q.id = "q-" + strconv.Itoa(i)
		q.positives = []string{ds.corpus[i].id, ds.corpus[i+50].id}
		p0, _ := strconv.ParseInt(q.positives[0], 10, 64)
		p1, _ := strconv.ParseInt(q.positives[1], 10, 64)
		qrows = append(qrows, mixedQueryRow{ID: q.id, Embedding: q.emb, PositiveIDs: []int64{p0, p1}})
	}
	writeAs(t, filepath.Join(root, "queries"), qrows)
	spec := workflows.Spec{Run: "mixed", Corpus: root + "/corpus/", Queries: root + "/queries/",
		Output: root + "/out/", QueryBlockRows: 8}
	runJob(t, quiet(), spec)
	var got []outRow
	for _, name := range partFiles(t, spec) {
		for _, r := range readTyped[dataset.MixedNTuple[string, int64]](t, mustRead(t, name)) {
			got = append(got, outRow{r.QueryID, texts(r.PositiveIDs), r.PositiveScores,
				texts(r.NegativeIDs), r.NegativeScores, r.NegativeKinds, r.NegativeRanks})
		}
	}
	ds.intIDs = false // the reference treats ids as text
	want := normalise(reference(t, ds, spec))
	got = normalise(got)
	if !slicesEqual(got, want) {
		t.Fatalf("parts differ from the miner in one piece: first row %+v, want %+v", got[0], want[0])
	}
}
