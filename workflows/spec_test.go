package workflows

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func ptr(v float64) *float64 { return &v }

func TestValidateNamesTheField(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(*Spec)
		fields []string // the fields refused, in order; none = valid
	}{
		{"defaults are valid", func(s *Spec) {}, nil},
		{"self mode is valid", func(s *Spec) { s.Queries, s.PositivesColumn, s.OutputFormat = "", "", "grouped" }, nil},
		{"labeled mode is valid", func(s *Spec) { s.LabelColumn, s.PositivesColumn, s.OutputFormat = "label", "", "grouped" }, nil},
		{"every format in pairs mode", func(s *Spec) { s.OutputFormat = "labeled-list" }, nil},
		{"triplet in self mode", func(s *Spec) { s.Queries, s.PositivesColumn = "", "" }, []string{"output_format"}},
		{"n-tuple in labeled mode", func(s *Spec) { s.LabelColumn, s.PositivesColumn, s.OutputFormat = "label", "", "n-tuple" }, []string{"output_format"}},
		{"include_positives in self mode", func(s *Spec) {
			s.Queries, s.PositivesColumn, s.OutputFormat, s.IncludePositives = "", "", "grouped", true
		}, []string{"include_positives"}},
		{"labeled self mode with margin", func(s *Spec) {
			s.Queries, s.PositivesColumn, s.LabelColumn, s.RelativeMargin, s.OutputFormat = "", "", "label", ptr(0.05), "grouped"
		}, nil},
		{"missing run", func(s *Spec) { s.Run = "" }, []string{"run"}},
		{"run with slash", func(s *Spec) { s.Run = "a/b" }, []string{"run"}},
		{"run with space", func(s *Spec) { s.Run = "a b" }, []string{"run"}},
		{"negative epoch", func(s *Spec) { s.Epoch = -1 }, []string{"epoch"}},
		{"missing corpus", func(s *Spec) { s.Corpus = "" }, []string{"corpus"}},
		{"missing output", func(s *Spec) { s.Output = "" }, []string{"output"}},
		{"output inside corpus", func(s *Spec) { s.Output = s.Corpus + "out/" }, []string{"output"}},
		{"corpus inside output", func(s *Spec) { s.Output = "file:///data/" }, []string{"output", "output"}},
		{"output equals queries without slash", func(s *Spec) { s.Output = "file:///data/queries" }, []string{"output"}},
		{"similarity", func(s *Spec) { s.Similarity = "euclidean" }, []string{"similarity"}},
		{"sampling", func(s *Spec) { s.SamplingStrategy = "best" }, []string{"sampling_strategy"}},
		{"format", func(s *Spec) { s.OutputFormat = "pairs" }, []string{"output_format"}},
		{"precision", func(s *Spec) { s.Precision = "fp8" }, []string{"precision"}},
		{"range_max not above range_min", func(s *Spec) { s.RangeMin, s.RangeMax = 5, 5 }, []string{"range_max"}},
		{"window too small", func(s *Spec) { s.RangeMin, s.RangeMax, s.NumNegatives = 2, 4, 3 }, []string{"num_negatives"}},
		{"negative range_min", func(s *Spec) { s.RangeMin = -1 }, []string{"range_min"}},
		{"negative num_negatives", func(s *Spec) { s.NumNegatives = -2 }, []string{"num_negatives"}},
		{"min above max score", func(s *Spec) { s.MinScore, s.MaxScore = ptr(0.9), ptr(0.5) }, []string{"min_score"}},
		{"relative margin 1", func(s *Spec) { s.RelativeMargin = ptr(1) }, []string{"relative_margin"}},
		{"negative absolute margin (negatives up to 0.1 above the positive)", func(s *Spec) { s.AbsoluteMargin = ptr(-0.1) }, nil},
		{"margin in self mode", func(s *Spec) {
			s.Queries, s.PositivesColumn, s.AbsoluteMargin, s.OutputFormat = "", "", ptr(0.1), "grouped"
		}, []string{"absolute_margin"}},
		{"positives in self mode", func(s *Spec) { s.Queries, s.OutputFormat = "", "grouped" }, []string{"positives_column"}},
		{"positives with labels", func(s *Spec) { s.LabelColumn, s.OutputFormat = "label", "grouped" }, []string{"positives_column"}},
		{"easy negatives", func(s *Spec) { s.EasyNegatives = -1 }, []string{"easy_negatives"}},
		{"frequency", func(s *Spec) { s.MaxNegativeFrequency = -1 }, []string{"max_negative_frequency"}},
		{"block rows", func(s *Spec) { s.QueryBlockRows = -5 }, []string{"query_block_rows"}},
		{"max_parallel too large", func(s *Spec) { s.MaxParallel = MaxMaxParallel + 1 }, []string{"max_parallel"}},
		{"two at once", func(s *Spec) { s.Run, s.Similarity = "", "x" }, []string{"run", "similarity"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := testSpec().WithDefaults()
			tt.edit(&s)
			err := s.Validate()
			var got []string
			for _, e := range unjoin(err) {
				var fe *FieldError
				if !errors.As(e, &fe) {
					t.Fatalf("error %v is not a *FieldError", e)
				}
				if !strings.Contains(e.Error(), `"`+fe.Field+`"`) {
					t.Errorf("message %q does not name the field", e)
				}
				got = append(got, fe.Field)
			}
			if !reflect.DeepEqual(got, tt.fields) {
				t.Errorf("refused fields %v, want %v (error: %v)", got, tt.fields, err)
			}
		})
	}
}

func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func TestWithDefaults(t *testing.T) {
	got := Spec{Run: "r", Corpus: "c/", Queries: "q/", Output: "o/"}.WithDefaults()
	want := Spec{
		Run: "r", Corpus: "c/", Queries: "q/", Output: "o/",
		IDColumn: "id", EmbeddingColumn: "embedding", PositivesColumn: "positive_ids",
		Similarity: "cosine", NumNegatives: 3, SamplingStrategy: "top", OutputFormat: "triplet",
		Precision: "exact", QueryBlockRows: DefaultQueryBlockRows, MaxParallel: DefaultMaxParallel,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("WithDefaults:\n got %+v\nwant %+v", got, want)
	}
	if again := got.WithDefaults(); !reflect.DeepEqual(again, got) {
		t.Errorf("WithDefaults is not idempotent: %+v", again)
	}
	if self := (Spec{Run: "r", Corpus: "c/", Output: "o/"}).WithDefaults(); self.PositivesColumn != "" {
		t.Errorf("self mode got positives_column %q", self.PositivesColumn)
	}
	kept := Spec{Similarity: "dot", NumNegatives: 7, QueryBlockRows: 10, MaxParallel: 2}.WithDefaults()
	if kept.Similarity != "dot" || kept.NumNegatives != 7 || kept.QueryBlockRows != 10 || kept.MaxParallel != 2 {
		t.Errorf("WithDefaults overwrote set fields: %+v", kept)
	}
}

// TestAliases checks that sentence-transformers' deprecated and implied
// settings map as hard_negatives.py maps them.
func TestAliases(t *testing.T) {
	yes, no := true, false
	pairs := Spec{Run: "r", Corpus: "c/", Queries: "q/", Output: "o/"}
	tests := []struct {
		name       string
		edit       func(*Spec)
		format     string
		scores     bool
		absMargin  *float64
		selfFormat string // the same edit in self mode
	}{
		{"default", func(s *Spec) {}, "triplet", false, nil, "grouped"},
		{"as_triplets true", func(s *Spec) { s.AsTriplets = &yes }, "triplet", false, nil, "triplet"},
		{"as_triplets false overrides output_format", func(s *Spec) { s.AsTriplets, s.OutputFormat = &no, "labeled-pair" }, "n-tuple", false, nil, "n-tuple"},
		{"n-tuple-scores", func(s *Spec) { s.OutputFormat = "n-tuple-scores" }, "n-tuple", true, nil, "n-tuple"},
		{"margin sets absolute_margin", func(s *Spec) { s.Margin, s.AbsoluteMargin = ptr(0.2), ptr(0.1) }, "triplet", false, ptr(0.2), "grouped"},
		{"include_positives switches to n-tuple", func(s *Spec) { s.IncludePositives, s.OutputFormat = true, "labeled-list" }, "n-tuple", false, nil, "labeled-list"},
		{"include_positives keeps grouped", func(s *Spec) { s.IncludePositives, s.OutputFormat = true, "grouped" }, "grouped", false, nil, "grouped"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := pairs
			tt.edit(&s)
			got := s.WithDefaults()
			if got.OutputFormat != tt.format || got.OutputScores != tt.scores || !reflect.DeepEqual(got.AbsoluteMargin, tt.absMargin) {
				t.Errorf("format %q scores %v absolute_margin %v, want %q %v %v",
					got.OutputFormat, got.OutputScores, got.AbsoluteMargin, tt.format, tt.scores, tt.absMargin)
			}
			if got.AsTriplets != nil || got.Margin != nil {
				t.Errorf("aliases not cleared: %+v", got)
			}
			self := pairs
			self.Queries = ""
			tt.edit(&self)
			if f := self.WithDefaults().OutputFormat; f != tt.selfFormat {
				t.Errorf("self mode: format %q, want %q", f, tt.selfFormat)
			}
		})
	}
}

func TestDecodeSpec(t *testing.T) {
	tests := []struct {
		name, json string
		want       string // substring of the error; "" = decodes
	}{
		{"minimal", `{"run":"r","epoch":0,"corpus":"c/","output":"o/"}`, ""},
		{"every field", `{"run":"r","epoch":4,"corpus":"s3://b/c/","queries":"s3://b/q/","output":"s3://b/o/",
			"id_column":"doc_id","embedding_column":"emb","positives_column":"pos","label_column":"",
			"similarity":"dot","num_negatives":5,"range_min":10,"range_max":50,"max_score":0.95,"min_score":0.1,
			"absolute_margin":0.02,"relative_margin":0.05,"sampling_strategy":"random","easy_negatives":2,
			"fill_with_easy":true,"max_negative_frequency":100,"output_format":"triplet","seed":42,
			"precision":"quantized","query_block_rows":4096,"max_parallel":32,"force":true}`, ""},
		{"unknown field", `{"run":"r","epoch":0,"corpus":"c/","output":"o/","range":5}`, `field "range": unknown field`},
		{"missing epoch", `{"run":"r","corpus":"c/","output":"o/"}`, `field "epoch": is required`},
		{"missing output", `{"run":"r","epoch":1,"corpus":"c/"}`, `field "output": is required`},
		{"wrong type", `{"run":"r","epoch":"one","corpus":"c/","output":"o/"}`, `field "epoch": must be a JSON integer, got string`},
		{"fraction for an integer", `{"run":"r","epoch":1.5,"corpus":"c/","output":"o/"}`, `field "epoch": must be a JSON integer, got number 1.5`},
		{"wrong type of a bool", `{"run":"r","epoch":1,"corpus":"c/","output":"o/","force":"yes"}`, `field "force": must be a JSON boolean`},
		{"trailing data", `{"run":"r","epoch":0,"corpus":"c/","output":"o/"} {}`, "trailing data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := DecodeSpec(strings.NewReader(tt.json))
			if tt.want == "" {
				if err != nil {
					t.Fatalf("DecodeSpec: %v", err)
				}
				// A decoded spec encodes back to the same spec.
				b, err := json.Marshal(s)
				if err != nil {
					t.Fatal(err)
				}
				var back Spec
				if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, s) {
					t.Errorf("round trip: %+v, %v; want %+v", back, err, s)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestWorkflowID(t *testing.T) {
	if got := WorkflowID("bge-small.v2", 7); got != "hardneg/bge-small.v2/epoch-7" {
		t.Errorf("WorkflowID = %q", got)
	}
}

func TestStartOptions(t *testing.T) {
	o := StartOptions(testSpec(), "hardneg")
	if o.ID != "hardneg/r1/epoch-2" || o.TaskQueue != "hardneg" {
		t.Errorf("ID %q, task queue %q", o.ID, o.TaskQueue)
	}
	if !strings.Contains(o.StaticSummary, "r1") || !strings.Contains(o.StaticDetails, "file:///data/corpus/") {
		t.Errorf("summary %q, details %q", o.StaticSummary, o.StaticDetails)
	}
	if v, ok := o.TypedSearchAttributes.GetInt64(SearchAttrEpoch); !ok || v != 2 {
		t.Errorf("epoch search attribute %v %v", v, ok)
	}
	if v, _ := o.TypedSearchAttributes.GetKeyword(SearchAttrPhase); v != PhaseQueued {
		t.Errorf("phase search attribute %q", v)
	}
}

func TestBitmap(t *testing.T) {
	b := NewBitmap(20)
	for _, i := range []int{0, 7, 8, 19} {
		b.Set(i)
	}
	for i := -1; i < 30; i++ {
		want := i == 0 || i == 7 || i == 8 || i == 19
		if b.Has(i) != want {
			t.Errorf("Has(%d) = %v", i, !want)
		}
	}
}

// TestSpecEncodesWhatWasSet checks that a spec encodes with the fields that
// were set only (the Temporal UI shows the input so), epoch always, and that
// it decodes back to the same spec.
func TestSpecEncodesWhatWasSet(t *testing.T) {
	tests := []struct {
		spec Spec
		want string
	}{
		{Spec{Run: "r", Corpus: "c/", Output: "o/"}, `{"run":"r","epoch":0,"corpus":"c/","output":"o/"}`},
		{Spec{Run: "r", Epoch: 2, Corpus: "c/", Queries: "q/", Output: "o/", NumNegatives: 5, RangeMin: 0, MaxScore: ptr(0), Force: true},
			`{"run":"r","epoch":2,"corpus":"c/","queries":"q/","output":"o/","num_negatives":5,"max_score":0,"force":true}`},
	}
	for _, tt := range tests {
		b, err := json.Marshal(tt.spec)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != tt.want {
			t.Errorf("encoded\n got %s\nwant %s", b, tt.want)
		}
		back, err := DecodeSpec(strings.NewReader(string(b)))
		if err != nil || !reflect.DeepEqual(back, tt.spec) {
			t.Errorf("decoded back %+v, %v; want %+v", back, err, tt.spec)
		}
	}
}
