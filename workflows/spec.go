package workflows

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Spec is the job spec: the single input of the MineHardNegatives workflow, the
// same JSON for every client (see docs/design.md, "The job spec"). Field names follow
// sentence-transformers' mine_hard_negatives where the meaning is the same.
//
// Zero values mean "use the default" for the fields whose comment names one;
// WithDefaults fills them in. Optional bounds are pointers: nil means unset.
// Decoding JSON into a Spec refuses unknown fields and missing required ones.
// Encoding leaves out every optional field at its zero value (the default), so
// a client sends the spec as the user wrote it and the UI shows it so; run,
// epoch, corpus and output are always written.
type Spec struct {
	// Run names the training run; with Epoch it names the job. Required.
	Run string `json:"run"`
	// Epoch is the training epoch, 0 or more. Required.
	Epoch int `json:"epoch"`

	// Corpus is the URI prefix of the corpus shards. Required.
	Corpus string `json:"corpus"`
	// Queries is the URI prefix of the query shards. Empty means self mode:
	// every corpus row is a query and never its own negative.
	Queries string `json:"queries,omitempty"`
	// Output is the URI prefix the parts, _manifest.json and _SUCCESS go to. Required.
	Output string `json:"output"`

	// IDColumn names the id column of every shard (default "id").
	IDColumn string `json:"id_column,omitempty"`
	// EmbeddingColumn names the embedding column (default "embedding").
	EmbeddingColumn string `json:"embedding_column,omitempty"`
	// PositivesColumn names the list-of-corpus-ids column of the query shards
	// (pairs mode only; default "positive_ids").
	PositivesColumn string `json:"positives_column,omitempty"`
	// LabelColumn, when set, selects labeled mode: positives are the corpus
	// items that share the query's label.
	LabelColumn string `json:"label_column,omitempty"`

	// Similarity is "cosine" (default) or "dot".
	Similarity string `json:"similarity,omitempty"`
	// NumNegatives is the number of hard negatives per query (default 3).
	NumNegatives int `json:"num_negatives,omitempty"`
	// RangeMin is how many of the best candidates are skipped.
	RangeMin int `json:"range_min,omitempty"`
	// RangeMax bounds the candidate window; 0 means derive it as
	// sentence-transformers does, once the plan knows max_positives.
	RangeMax int `json:"range_max,omitempty"`
	// MaxScore and MinScore are absolute score bounds for a negative.
	MaxScore *float64 `json:"max_score,omitempty"`
	MinScore *float64 `json:"min_score,omitempty"`
	// AbsoluteMargin and RelativeMargin are the positive-aware false-negative
	// filters (NV-Retriever TopK-MarginPos and TopK-PercPos).
	AbsoluteMargin *float64 `json:"absolute_margin,omitempty"`
	RelativeMargin *float64 `json:"relative_margin,omitempty"`
	// SamplingStrategy is "top" (default) or "random" (seeded).
	SamplingStrategy string `json:"sampling_strategy,omitempty"`
	// EasyNegatives is the number of easy negatives per query.
	EasyNegatives int `json:"easy_negatives,omitempty"`
	// FillWithEasy tops up a query whose hard negatives ran short.
	FillWithEasy bool `json:"fill_with_easy,omitempty"`
	// MaxNegativeFrequency caps how many queries one corpus item may be a hard
	// negative for in this epoch; 0 means no cap.
	MaxNegativeFrequency int `json:"max_negative_frequency,omitempty"`
	// OutputFormat is one of sentence-transformers' formats, "triplet" (the
	// default in pairs mode), "n-tuple", "labeled-pair" and "labeled-list", or
	// hardneg's own "grouped" (one row per query with ids, scores, kinds and
	// ranks; the default in self and labeled mode, which have no positive to
	// put in the other formats' rows). "n-tuple-scores" is accepted as
	// "n-tuple" with output_scores, as sentence-transformers accepts it.
	OutputFormat string `json:"output_format,omitempty"`
	// OutputScores adds the similarity scores to the output: a scores column
	// (triplet, n-tuple), or scores in place of the labels (labeled-pair,
	// labeled-list). The grouped format always has them.
	OutputScores bool `json:"output_scores,omitempty"`
	// IncludePositives keeps the positives among the negative candidates and,
	// as sentence-transformers does, switches triplet and the labeled formats
	// to n-tuple so that the ranking order is kept. Pairs mode only.
	IncludePositives bool `json:"include_positives,omitempty"`
	// TextColumn names the string column of the query and corpus shards whose
	// texts the output carries. Empty means no texts: the ids stand where the
	// texts would be.
	TextColumn string `json:"text_column,omitempty"`
	// AsTriplets is sentence-transformers' deprecated as_triplets: true means
	// output_format "triplet", false "n-tuple". WithDefaults maps it and clears it.
	AsTriplets *bool `json:"as_triplets,omitempty"`
	// Margin is sentence-transformers' deprecated margin: it sets
	// absolute_margin. WithDefaults maps it and clears it.
	Margin *float64 `json:"margin,omitempty"`
	// Seed makes every random choice repeatable.
	Seed int64 `json:"seed,omitempty"`
	// Precision is "exact" (default) or "quantized".
	Precision string `json:"precision,omitempty"`
	// QueryBlockRows is the number of queries per block (default
	// DefaultQueryBlockRows); one block gives one part file.
	QueryBlockRows int `json:"query_block_rows,omitempty"`
	// MaxParallel bounds the tiles in flight at once (default DefaultMaxParallel).
	MaxParallel int `json:"max_parallel,omitempty"`

	// Force mines the epoch again even when the output already holds a
	// finished result of the same inputs (_SUCCESS and a _manifest.json of
	// the same fingerprint), which a job started again otherwise returns as
	// it is. It does not change the result, so it is not in the fingerprint.
	Force bool `json:"force,omitempty"`
}

// Defaults applied by WithDefaults.
const (
	DefaultIDColumn        = "id"
	DefaultEmbeddingColumn = "embedding"
	DefaultPositivesColumn = "positive_ids"
	DefaultNumNegatives    = 3
	DefaultQueryBlockRows  = 8192
	DefaultMaxParallel     = 8
	// MaxMaxParallel stays well below the server's limit of 2,000 pending
	// activities or child workflows per execution.
	MaxMaxParallel = 1000
)

// Allowed values of the enumerated fields; the first of each is the default,
// except for OutputFormats, whose default depends on the mode (DefaultOutputFormat).
var (
	Similarities       = []string{"cosine", "dot"}
	SamplingStrategies = []string{"top", "random"}
	OutputFormats      = []string{"triplet", "n-tuple", "labeled-pair", "labeled-list", "grouped"}
	Precisions         = []string{"exact", "quantized"}
)

// Mode is how a job finds each query's positives.
type Mode string

// The three modes of docs/design.md, "Modes".
const (
	// ModePairs: query shards carry a list of positive corpus ids.
	ModePairs Mode = "pairs"
	// ModeLabeled: positives are the corpus items with the query's label.
	ModeLabeled Mode = "labeled"
	// ModeSelf: no positives; every corpus row is a query.
	ModeSelf Mode = "self"
)

// Mode reports the spec's mode: labeled when a label column is named, else pairs
// when queries are given, else self.
func (s Spec) Mode() Mode {
	switch {
	case s.LabelColumn != "":
		return ModeLabeled
	case s.Queries != "":
		return ModePairs
	default:
		return ModeSelf
	}
}

// WithDefaults returns s with every defaulted field filled in. It is pure, so
// the workflow may call it: the same spec always gives the same result.
func (s Spec) WithDefaults() Spec {
	def := func(v *string, d string) {
		if *v == "" {
			*v = d
		}
	}
	def(&s.IDColumn, DefaultIDColumn)
	def(&s.EmbeddingColumn, DefaultEmbeddingColumn)
	if s.Mode() == ModePairs {
		def(&s.PositivesColumn, DefaultPositivesColumn)
	}
	def(&s.Similarity, Similarities[0])
	def(&s.SamplingStrategy, SamplingStrategies[0])
	s = s.withAliases()
	def(&s.OutputFormat, DefaultOutputFormat(s.Mode()))
	def(&s.Precision, Precisions[0])
	if s.NumNegatives == 0 {
		s.NumNegatives = DefaultNumNegatives
	}
	if s.QueryBlockRows == 0 {
		s.QueryBlockRows = DefaultQueryBlockRows
	}
	if s.MaxParallel == 0 {
		s.MaxParallel = DefaultMaxParallel
	}
	return s
}

// DefaultOutputFormat is the output format of a spec that names none:
// sentence-transformers' "triplet" in pairs mode, "grouped" in the modes
// without positives.
func DefaultOutputFormat(m Mode) string {
	if m == ModePairs {
		return "triplet"
	}
	return "grouped"
}

// withAliases maps sentence-transformers' deprecated and implied settings as
// hard_negatives.py maps them: as_triplets to output_format, margin to
// absolute_margin, "n-tuple-scores" to "n-tuple" with scores, and
// include_positives to "n-tuple" (grouped stays grouped).
func (s Spec) withAliases() Spec {
	if s.AsTriplets != nil {
		s.OutputFormat = map[bool]string{true: "triplet", false: "n-tuple"}[*s.AsTriplets]
		s.AsTriplets = nil
	}
	if s.Margin != nil {
		m := *s.Margin
		s.AbsoluteMargin, s.Margin = &m, nil
	}
	if s.OutputFormat == "n-tuple-scores" {
		s.OutputFormat, s.OutputScores = "n-tuple", true
	}
	if s.IncludePositives && s.Mode() == ModePairs && s.OutputFormat != "grouped" {
		s.OutputFormat = "n-tuple"
	}
	return s
}

// TrainingFormat reports whether format is one of sentence-transformers'
// formats, whose every row holds a positive.
func TrainingFormat(format string) bool {
	return format != "grouped" && contains(OutputFormats, format)
}

// FieldError is a refused spec field.
type FieldError struct {
	Field   string // JSON name of the field
	Problem string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("job spec: field %q: %s", e.Field, e.Problem)
}

// Validate checks a spec (normally after WithDefaults) and reports every
// refused field, each as a *FieldError joined with errors.Join. Checks that need
// the data (max_positives, columns, dimensions) happen in the plan.
func (s Spec) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Problem: fmt.Sprintf(format, args...)})
	}
	if err := checkRun(s.Run); err != "" {
		bad("run", "%s", err)
	}
	if s.Epoch < 0 {
		bad("epoch", "must be 0 or more, got %d", s.Epoch)
	}
	s.checkLocations(bad)
	for _, c := range []struct{ field, v string }{
		{"id_column", s.IDColumn}, {"embedding_column", s.EmbeddingColumn},
	} {
		if c.v == "" {
			bad(c.field, "must not be empty")
		}
	}
	s.checkMode(bad)
	for _, e := range []struct {
		field, v string
		allowed  []string
	}{
		{"similarity", s.Similarity, Similarities},
		{"sampling_strategy", s.SamplingStrategy, SamplingStrategies},
		{"output_format", s.OutputFormat, OutputFormats},
		{"precision", s.Precision, Precisions},
	} {
		if !contains(e.allowed, e.v) {
			bad(e.field, "must be one of %s, got %q", strings.Join(e.allowed, ", "), e.v)
		}
	}
	s.checkWindow(bad)
	s.checkScores(bad)
	if s.EasyNegatives < 0 {
		bad("easy_negatives", "must be 0 or more, got %d", s.EasyNegatives)
	}
	if s.MaxNegativeFrequency < 0 {
		bad("max_negative_frequency", "must be 0 (off) or more, got %d", s.MaxNegativeFrequency)
	}
	if s.QueryBlockRows < 1 {
		bad("query_block_rows", "must be 1 or more, got %d", s.QueryBlockRows)
	}
	if s.MaxParallel < 1 || s.MaxParallel > MaxMaxParallel {
		bad("max_parallel", "must be between 1 and %d, got %d", MaxMaxParallel, s.MaxParallel)
	}
	return errors.Join(errs...)
}

// checkRun returns why a run name is refused, or "". The name becomes part of
// the workflow ID hardneg/<run>/epoch-<epoch>, so it may not hold a slash.
func checkRun(run string) string {
	switch {
	case run == "":
		return "is required"
	case len(run) > 200:
		return "must be at most 200 bytes"
	case !utf8.ValidString(run):
		return "must be valid UTF-8"
	case strings.ContainsRune(run, '/'):
		return "must not contain '/' (it is part of the workflow ID)"
	case strings.IndexFunc(run, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }) >= 0:
		return "must not contain spaces or control characters"
	}
	return ""
}

func (s Spec) checkLocations(bad func(field, format string, args ...any)) {
	if s.Corpus == "" {
		bad("corpus", "is required")
	}
	if s.Output == "" {
		bad("output", "is required")
		return
	}
	// Output inside an input prefix would turn the parts into input shards of
	// the next job; an input inside the output would be deleted with _work/.
	for _, in := range []struct{ field, v string }{{"corpus", s.Corpus}, {"queries", s.Queries}} {
		if in.v == "" {
			continue
		}
		a, b := WithSlash(in.v), WithSlash(s.Output)
		if strings.HasPrefix(a, b) || strings.HasPrefix(b, a) {
			bad("output", "must not overlap %s (%q and %q)", in.field, s.Output, in.v)
		}
	}
}

func (s Spec) checkMode(bad func(field, format string, args ...any)) {
	switch s.Mode() {
	case ModeLabeled:
		s.checkPositiveFree(bad)
		if s.PositivesColumn != "" {
			bad("positives_column", "cannot be combined with label_column (labeled mode finds positives by label)")
		}
	case ModePairs:
		if s.PositivesColumn == "" {
			bad("positives_column", "must not be empty")
		}
	case ModeSelf:
		s.checkPositiveFree(bad)
		if s.PositivesColumn != "" {
			bad("positives_column", "needs queries (with no queries there are no positives)")
		}
		// Margins are measured against a positive: self mode has none.
		if s.AbsoluteMargin != nil {
			bad("absolute_margin", "needs positives: set queries or label_column")
		}
		if s.RelativeMargin != nil {
			bad("relative_margin", "needs positives: set queries or label_column")
		}
	}
}

// checkPositiveFree refuses, in the modes without positives, what needs a
// positive per query: sentence-transformers' formats and include_positives.
func (s Spec) checkPositiveFree(bad func(field, format string, args ...any)) {
	if TrainingFormat(s.OutputFormat) {
		bad("output_format", "%q needs a positive in every row, and %s mode has none: use \"grouped\", or give queries with positives_column", s.OutputFormat, s.Mode())
	}
	if s.IncludePositives {
		bad("include_positives", "needs positives: give queries with positives_column")
	}
}

func (s Spec) checkWindow(bad func(field, format string, args ...any)) {
	if s.NumNegatives < 1 {
		bad("num_negatives", "must be 1 or more, got %d", s.NumNegatives)
	}
	if s.RangeMin < 0 {
		bad("range_min", "must be 0 or more, got %d", s.RangeMin)
	}
	switch {
	case s.RangeMax < 0:
		bad("range_max", "must be 0 (derive it) or more, got %d", s.RangeMax)
	case s.RangeMax > 0 && s.RangeMax <= s.RangeMin:
		bad("range_max", "must be greater than range_min (%d), got %d", s.RangeMin, s.RangeMax)
	case s.RangeMax > 0 && s.NumNegatives > s.RangeMax-s.RangeMin:
		bad("num_negatives", "must be at most range_max - range_min = %d, got %d", s.RangeMax-s.RangeMin, s.NumNegatives)
	}
}

func (s Spec) checkScores(bad func(field, format string, args ...any)) {
	for _, f := range []struct {
		field string
		v     *float64
	}{
		{"max_score", s.MaxScore}, {"min_score", s.MinScore},
		{"absolute_margin", s.AbsoluteMargin}, {"relative_margin", s.RelativeMargin},
	} {
		if f.v != nil && (math.IsNaN(*f.v) || math.IsInf(*f.v, 0)) {
			bad(f.field, "must be a finite number")
		}
	}
	if s.MaxScore != nil && s.MinScore != nil && *s.MinScore > *s.MaxScore {
		bad("min_score", "must not exceed max_score (%g), got %g", *s.MaxScore, *s.MinScore)
	}
	if m := s.RelativeMargin; m != nil && (*m < 0 || *m >= 1) {
		bad("relative_margin", "must be in [0, 1), got %g (0.05 keeps negatives below 95%% of the positive)", *m)
	}
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// requiredFields must be present in a JSON spec. Epoch is among them because
// 0 is a valid epoch, so its absence could not be told from the zero value.
var requiredFields = []string{"run", "epoch", "corpus", "output"}

// UnmarshalJSON decodes a JSON spec, refusing unknown fields, trailing data
// and missing required fields, so that a misspelt option fails the job before
// any work instead of being silently ignored.
func (s *Spec) UnmarshalJSON(data []byte) error {
	var present map[string]json.RawMessage
	if err := json.Unmarshal(data, &present); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return fmt.Errorf("job spec: want a JSON object of fields, got %s", te.Value)
		}
		return fmt.Errorf("job spec: %w", err)
	}
	type plain Spec // no methods: avoids recursing into UnmarshalJSON
	var p plain
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return decodeError(err)
	}
	for _, f := range requiredFields {
		if _, ok := present[f]; !ok {
			return &FieldError{Field: f, Problem: "is required"}
		}
	}
	*s = Spec(p)
	return nil
}

// decodeError names the field of a JSON decoding error as a *FieldError where
// the error says which field it is: an unknown field, or a value of the wrong
// type. encoding/json reports an unknown field only in its message, hence the
// parsing of it.
func decodeError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return &FieldError{Field: te.Field, Problem: fmt.Sprintf("must be a JSON %s, got %s", jsonKind(te.Type), te.Value)}
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if field, uerr := strconv.Unquote(name); uerr == nil {
			return &FieldError{Field: field, Problem: `unknown field (the fields are in the README, "The job spec")`}
		}
	}
	return fmt.Errorf("job spec: %w", err)
}

// jsonKind names the JSON value a Go type of Spec decodes from.
func jsonKind(t reflect.Type) string {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean (true or false)"
	case reflect.Int, reflect.Int64:
		return "integer"
	case reflect.Float64:
		return "number"
	}
	return t.String()
}

// DecodeSpec reads one JSON spec from r. Unknown or missing required fields are
// errors; defaults are not applied and the spec is not validated.
func DecodeSpec(r io.Reader) (Spec, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return Spec{}, fmt.Errorf("read job spec: %w", err)
	}
	var s Spec
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&s); err != nil {
		return Spec{}, err
	}
	if dec.More() {
		return Spec{}, errors.New("job spec: trailing data after the JSON object")
	}
	return s, nil
}

// WorkflowID is the ID of the job for one epoch of a run. Starting the same
// epoch twice therefore finds the job already there.
func WorkflowID(run string, epoch int) string {
	return fmt.Sprintf("hardneg/%s/epoch-%d", run, epoch)
}
