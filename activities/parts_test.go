package activities

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/hardneg/hardneg/dataset"
	"github.com/hardneg/hardneg/internal/job"
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

// TestTrainingParts runs a job in each of sentence-transformers' formats,
// with and without scores and texts, and checks each part is the bytes
// dataset.WriteTraining gives for the reference rows of its block: the rows,
// their order and the texts are the job's; the formats' layout is tested in
// dataset against hard_negatives.py's.
func TestTrainingParts(t *testing.T) {
	data := pairsData(120, 40)
	for _, format := range []string{"triplet", "n-tuple", "labeled-pair", "labeled-list"} {
		for _, opt := range []struct {
			name         string
			scores, text bool
		}{{"ids", false, false}, {"texts+scores", true, true}} {
			t.Run(format+"/"+opt.name, func(t *testing.T) {
				spec := layout(t, data, 3, 2)
				spec.QueryBlockRows, spec.EasyNegatives, spec.FillWithEasy = 16, 1, format == "n-tuple"
				spec.OutputFormat, spec.OutputScores = format, opt.scores
				if opt.text {
					spec.TextColumn = "text"
				}
				runJob(t, quiet(), spec)
				want, rows := expectedTrainingParts(t, data, spec)
				checkManifestRows(t, spec, format, rows)
				got := partFiles(t, spec)
				if len(got) != len(want) {
					t.Fatalf("%d parts, want %d", len(got), len(want))
				}
				for b, name := range got {
					if !bytes.Equal(mustRead(t, name), want[b]) {
						t.Errorf("%s differs from the reference rows of block %d", filepath.Base(name), b)
					}
				}
			})
		}
	}
}

// expectedTrainingParts encodes the reference rows of each block of spec
// as training parts, with textOf(id) for texts when the spec names them.
func expectedTrainingParts(t *testing.T, data dataSet, spec workflows.Spec) (parts [][]byte, rows int64) {
	t.Helper()
	grouped := spec
	grouped.OutputFormat, grouped.OutputScores, grouped.TextColumn = "grouped", false, ""
	ref := reference(t, data, grouped)
	text := func(ids []string) []string {
		if spec.TextColumn == "" {
			return ids
		}
		out := make([]string, len(ids))
		for i, id := range ids {
			out[i] = textOf(id)
		}
		return out
	}
	l := dataset.TrainingLayout{Format: spec.OutputFormat, Scores: spec.OutputScores,
		Negatives: 3 + spec.EasyNegatives, AnchorKind: dataset.String, DocKind: dataset.String}
	for lo := 0; lo < len(ref); lo += spec.QueryBlockRows {
		var block []dataset.TrainingRow
		for _, r := range ref[lo:min(lo+spec.QueryBlockRows, len(ref))] {
			block = append(block, dataset.TrainingRow{Anchor: text([]string{r.QueryID})[0],
				Positives: text(r.PositiveIDs), PositiveScores: r.PositiveScores,
				Negatives: text(r.NegativeIDs), NegativeScores: r.NegativeScores})
		}
		var buf bytes.Buffer
		n, err := dataset.WriteTraining(&buf, block, l)
		if err != nil {
			t.Fatal(err)
		}
		parts, rows = append(parts, buf.Bytes()), rows+n
	}
	return parts, rows
}

// checkManifestRows checks that the manifest names the format and counts
// the rows written, and no more than the rows possible.
func checkManifestRows(t *testing.T, spec workflows.Spec, format string, rows int64) {
	t.Helper()
	var m struct {
		OutputFormat string `json:"output_format"`
		Statistics   struct {
			Rows     int64 `json:"rows"`
			Possible int64 `json:"rows_possible"`
		} `json:"statistics"`
	}
	data := mustRead(t, filepath.Join(strings.TrimPrefix(spec.Output, "file://"), job.ManifestKey))
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	if m.OutputFormat != format || m.Statistics.Rows != rows || m.Statistics.Possible < rows || rows == 0 {
		t.Errorf("manifest: format %q, rows %d of %d possible; want %q and %d rows", m.OutputFormat,
			m.Statistics.Rows, m.Statistics.Possible, format, rows)
	}
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
		Output: root + "/out/", QueryBlockRows: 8, OutputFormat: "grouped"}
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

// groupedTextRow reads the grouped columns with the texts.
type groupedTextRow struct {
	QueryID       string   `parquet:"query_id"`
	PositiveIDs   []string `parquet:"positive_ids,list"`
	NegativeIDs   []string `parquet:"negative_ids,list"`
	QueryText     string   `parquet:"query_text"`
	PositiveTexts []string `parquet:"positive_texts,list"`
	NegativeTexts []string `parquet:"negative_texts,list"`
}

// TestGroupedTextParts checks that a grouped job with a text column writes
// each id's text beside it, in a self-mode job too.
func TestGroupedTextParts(t *testing.T) {
	self := pairsData(90, 1)
	self.queries = nil
	for name, data := range map[string]dataSet{"pairs": pairsData(120, 40), "self": self} {
		t.Run(name, func(t *testing.T) {
			spec := layout(t, data, 3, 2)
			spec.QueryBlockRows, spec.EasyNegatives, spec.TextColumn = 16, 1, "text"
			runJob(t, quiet(), spec)
			var rows int
			for _, part := range partFiles(t, spec) {
				for _, r := range readTyped[groupedTextRow](t, mustRead(t, part)) {
					rows++
					ok := r.QueryText == textOf(r.QueryID) && len(r.PositiveTexts) == len(r.PositiveIDs) && len(r.NegativeTexts) == len(r.NegativeIDs)
					for i, id := range r.PositiveIDs {
						ok = ok && r.PositiveTexts[i] == textOf(id)
					}
					for i, id := range r.NegativeIDs {
						ok = ok && r.NegativeTexts[i] == textOf(id)
					}
					if !ok {
						t.Fatalf("row %+v: texts do not match ids", r)
					}
				}
			}
			if want := len(reference(t, data, spec)); rows != want {
				t.Errorf("%d rows, want %d", rows, want)
			}
		})
	}
}

// tripletRow reads a triplet part of texts.
type tripletRow struct {
	Anchor   string `parquet:"anchor"`
	Positive string `parquet:"positive"`
	Negative string `parquet:"negative"`
}

// TestDuckDBTextShards mines shards that DuckDB wrote, with a text column
// (dataset/testdata/texts*.parquet), in the grouped and triplet formats:
// the grouped texts belong to their ids, and the triplets are the grouped
// rows' texts expanded as sentence-transformers expands them.
func TestDuckDBTextShards(t *testing.T) {
	root := t.TempDir()
	for dir, fixture := range map[string]string{"corpus": "texts.parquet", "queries": "texts_queries.parquet"} {
		data, err := os.ReadFile(filepath.Join("..", "dataset", "testdata", fixture))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(root, dir), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, dir, fixture), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	spec := workflows.Spec{Run: "duck", Corpus: root + "/corpus/", Queries: root + "/queries/", Output: root + "/grouped/",
		TextColumn: "text", OutputFormat: "grouped", QueryBlockRows: 16, EasyNegatives: 1, Seed: 2}
	runJob(t, quiet(), spec)
	var want []tripletRow
	for _, part := range partFiles(t, spec) {
		for _, r := range readTyped[groupedTextRow](t, mustRead(t, part)) {
			if r.QueryText != "question "+strings.TrimPrefix(r.QueryID, "q-") || len(r.PositiveIDs) != 2 {
				t.Fatalf("query %s: text %q, positives %v", r.QueryID, r.QueryText, r.PositiveIDs)
			}
			for i, id := range append(slices.Clone(r.PositiveIDs), r.NegativeIDs...) {
				if text := append(slices.Clone(r.PositiveTexts), r.NegativeTexts...)[i]; text != "text of "+id+" ✓" {
					t.Fatalf("query %s: %s has text %q", r.QueryID, id, text)
				}
			}
			for _, p := range r.PositiveTexts {
				for _, n := range r.NegativeTexts {
					want = append(want, tripletRow{r.QueryText, p, n})
				}
			}
		}
	}
	spec.Output, spec.OutputFormat = root+"/triplet/", "triplet"
	runJob(t, quiet(), spec)
	var got []tripletRow
	for _, part := range partFiles(t, spec) {
		got = append(got, readTyped[tripletRow](t, mustRead(t, part))...)
	}
	if len(want) != 40*2*4 || !slices.Equal(got, want) {
		t.Fatalf("%d triplets, want %d (40 queries × 2 positives × 4 negatives)", len(got), len(want))
	}
}
