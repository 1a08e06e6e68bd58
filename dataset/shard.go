package dataset

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

// Columns names the input columns of a shard. An empty field takes its
// default: id, embedding, positive_ids, label.
type Columns struct {
	ID        string // the id column: string or integer
	Embedding string // the embedding column: a list of float32, float64 or float16
	Positives string // a list of ids per row (queries in pairs mode); may be absent
	Label     string // a string or integer label per row (labeled mode); may be absent
	// Text, when set, names a string column that must be present: the texts
	// that the output carries (ReadTexts). Empty means no text column.
	Text string
}

// The default column names.
const (
	DefaultIDColumn        = "id"
	DefaultEmbeddingColumn = "embedding"
	DefaultPositivesColumn = "positive_ids"
	DefaultLabelColumn     = "label"
)

// withDefaults returns c with its empty fields set to the default names.
func (c Columns) withDefaults() Columns {
	def := func(s, d string) string {
		if s == "" {
			return d
		}
		return s
	}
	return Columns{
		ID:        def(c.ID, DefaultIDColumn),
		Embedding: def(c.Embedding, DefaultEmbeddingColumn),
		Positives: def(c.Positives, DefaultPositivesColumn),
		Label:     def(c.Label, DefaultLabelColumn),
		Text:      c.Text,
	}
}

// ElementType is the Parquet type of an embedding's elements. Every type is
// read as float32.
type ElementType uint8

// The element types an embedding column may have.
const (
	Float32 ElementType = iota + 1
	Float64
	Float16
)

// String returns "float32", "float64" or "float16".
func (t ElementType) String() string {
	switch t {
	case Float32:
		return "float32"
	case Float64:
		return "float64"
	case Float16:
		return "float16"
	}
	return fmt.Sprintf("ElementType(%d)", uint8(t))
}

// Shard is an opened embedding shard: its footer has been read and its
// schema checked, and its data is read on demand by the Read methods. A
// Shard is safe for concurrent use.
type Shard struct {
	name      string
	r         *failureLog       // the caller's reader, its failures counted
	cr        *countingReaderAt // r, as parquet-go reads it
	size      int64
	file      *parquet.File
	rows      int64
	dim       int
	id        column
	embedding column
	positives *column // nil when the shard has no positives column
	label     *column // nil when the shard has no label column
	text      *column // nil when Columns.Text is empty
	elemType  ElementType

	// Parallelism is how many goroutines decode embedding pages at once;
	// OpenShard sets it to GOMAXPROCS.
	Parallelism int
}

// column is a column of the schema found by name and checked.
type column struct {
	name    string // the top-level field name, as in messages
	index   int    // the leaf column index within a row group
	maxRep  int    // 0 for a scalar, 1 for a list
	maxDef  int    // a value is present at this definition level
	listDef int    // lists only: a list with at least one entry is at this level or above
	leaf    *parquet.Column
	kind    Kind // ids and labels: the kind of value
}

// OpenShard reads the footer of the Parquet file r of the given size, checks
// its schema against cols and returns the shard. name is used only in
// messages. Besides the footer, OpenShard reads the repetition levels at the
// start of the embedding column's first data page, because Parquet's schema
// does not carry a list's length: a fixed-size list (DuckDB FLOAT[N], Arrow
// fixed_size_list) is stored as a plain LIST, so the dimension is the length
// of the first row's list. That every other row has the same length is checked
// when the embeddings are read. For zstd- and uncompressed pages only the few
// kilobytes holding those levels are read; other codecs need the whole first page.
//
// Bad input (not Parquet, truncated, a missing column, a column of the wrong
// type, no rows) is an *InputError. Errors of r are returned wrapped, as they are.
func OpenShard(r io.ReaderAt, size int64, name string, cols Columns) (_ *Shard, err error) {
	log := &failureLog{r: r}
	defer func() { err = settle(log, 0, name, err) }()
	defer recoverCorrupt(name, &err)
	return openShard(log, size, name, cols.withDefaults())
}

// openShard is OpenShard over a reader whose failures are counted.
func openShard(r *failureLog, size int64, name string, cols Columns) (*Shard, error) {
	cr := &countingReaderAt{r: r, size: size}
	f, err := openFile(cr, size, name)
	if err != nil {
		return nil, err
	}
	s := &Shard{name: name, r: r, cr: cr, size: size, file: f, rows: f.NumRows(), Parallelism: runtime.GOMAXPROCS(0)}
	if err := s.checkRowGroups(); err != nil {
		return nil, err
	}
	if s.id, err = s.scalarColumn(cols.ID, true); err != nil {
		return nil, err
	}
	if s.embedding, err = s.listColumn(cols.Embedding, true); err != nil {
		return nil, err
	}
	if s.elemType, err = s.embeddingType(); err != nil {
		return nil, err
	}
	if c, err := s.listColumn(cols.Positives, false); err != nil {
		return nil, err
	} else if c.leaf != nil {
		s.positives = &c
	}
	if c, err := s.scalarColumn(cols.Label, false); err != nil {
		return nil, err
	} else if c.leaf != nil {
		s.label = &c
	}
	if cols.Text != "" {
		c, err := s.textColumn(cols.Text)
		if err != nil {
			return nil, err
		}
		s.text = &c
	}
	if s.rows == 0 {
		return nil, inputErrorf(name, "", -1, "empty shard: no rows")
	}
	if s.dim, err = s.probeDimension(); err != nil {
		return nil, err
	}
	return s, nil
}

// Name returns the name given to OpenShard.
func (s *Shard) Name() string { return s.name }

// Rows returns the number of rows, from the footer.
func (s *Shard) Rows() int64 { return s.rows }

// Dim returns the embedding dimension: the length of the first row's list.
func (s *Shard) Dim() int { return s.dim }

// ElementType returns the Parquet type of the embedding elements.
func (s *Shard) ElementType() ElementType { return s.elemType }

// IDKind returns the type of the id column.
func (s *Shard) IDKind() Kind { return s.id.kind }

// HasPositives reports whether the shard has the positives column.
func (s *Shard) HasPositives() bool { return s.positives != nil }

// PositivesKind returns the type of the positive ids, or 0 without the column.
func (s *Shard) PositivesKind() Kind {
	if s.positives == nil {
		return 0
	}
	return s.positives.kind
}

// HasLabels reports whether the shard has the label column.
func (s *Shard) HasLabels() bool { return s.label != nil }

// LabelKind returns the type of the labels, or 0 without the column.
func (s *Shard) LabelKind() Kind {
	if s.label == nil {
		return 0
	}
	return s.label.kind
}

// countingReaderAt remembers the first error of r other than io.EOF, so that
// a failing store is told apart from a file that is too short.
type countingReaderAt struct {
	r    io.ReaderAt
	size int64
	mu   sync.Mutex
	err  error
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > c.size {
		// A corrupt footer points outside the file: bad input, not a failing store.
		return 0, io.ErrUnexpectedEOF
	}
	n, err := c.r.ReadAt(p, off)
	if err != nil && !errors.Is(err, io.EOF) {
		c.mu.Lock()
		if c.err == nil {
			c.err = err
		}
		c.mu.Unlock()
	}
	return n, err
}

// failed returns the first error of the reader other than io.EOF, or nil.
func (c *countingReaderAt) failed() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// openFile opens the Parquet footer, telling bad bytes (an *InputError) from
// a failing reader (its error, wrapped).
func openFile(cr *countingReaderAt, size int64, name string) (*parquet.File, error) {
	if size < 12 { // "PAR1" + footer length + "PAR1"
		return nil, inputErrorf(name, "", -1, "not a Parquet file: %d bytes is too short", size)
	}
	f, err := parquet.OpenFile(cr, size,
		parquet.SkipPageIndex(true),
		parquet.SkipBloomFilters(true),
		// One read of the file's tail usually holds the whole footer.
		parquet.OptimisticRead(true),
		parquet.ReadBufferSize(64<<10),
	)
	if err == nil {
		return f, nil
	}
	if ioErr := cr.failed(); ioErr != nil {
		return nil, fmt.Errorf("read footer of %s: %w", name, ioErr)
	}
	return nil, inputErrorf(name, "", -1, "not a Parquet file, or truncated: %v", err)
}

// checkRowGroups checks that the row groups add up to the file's row count
// and that no column chunk lies past the end of the file.
func (s *Shard) checkRowGroups() error {
	var rows int64
	for i, rg := range s.file.Metadata().RowGroups {
		rows += rg.NumRows
		for _, c := range rg.Columns {
			start, length := chunkRange(&c.MetaData)
			if start < 0 || length < 0 || start+length > s.size {
				return inputErrorf(s.name, "", -1, "truncated or corrupt: row group %d column %v lies at bytes [%d, %d) of a %d-byte file",
					i, []string(c.MetaData.PathInSchema), start, start+length, s.size)
			}
		}
	}
	if rows != s.rows {
		return inputErrorf(s.name, "", -1, "corrupt footer: row groups hold %d rows, footer says %d", rows, s.rows)
	}
	return nil
}

// chunkRange returns the byte range of a column chunk: from its dictionary
// page, if any, to the end of its last data page.
func chunkRange(m *format.ColumnMetaData) (start, length int64) {
	start = m.DataPageOffset
	if m.DictionaryPageOffset > 0 && m.DictionaryPageOffset < start {
		start = m.DictionaryPageOffset
	}
	return start, m.TotalCompressedSize
}

// lookup finds the top-level field name and follows it down to its single
// leaf. found is false when the shard has no such field.
func (s *Shard) lookup(name string) (c column, found bool, err error) {
	node := s.file.Root().Column(name)
	if node == nil {
		return column{}, false, nil
	}
	c.name = name
	for !node.Leaf() {
		children := node.Columns()
		if len(children) != 1 {
			return c, true, inputErrorf(s.name, name, -1, "wrong type: a group of %d fields, want a single value or a list", len(children))
		}
		if node.Repeated() && c.listDef == 0 {
			c.listDef = node.MaxDefinitionLevel()
		}
		node = children[0]
	}
	if node.Repeated() && c.listDef == 0 { // a legacy two-level list: "repeated float embedding"
		c.listDef = node.MaxDefinitionLevel()
	}
	c.leaf = node
	c.index = node.Index()
	c.maxRep = node.MaxRepetitionLevel()
	c.maxDef = node.MaxDefinitionLevel()
	return c, true, nil
}

// scalarColumn finds a string or integer column with one value per row.
func (s *Shard) scalarColumn(name string, required bool) (column, error) {
	c, found, err := s.lookup(name)
	if err != nil {
		return c, err
	}
	if !found {
		if required {
			return c, inputErrorf(s.name, name, -1, "missing column (the file has %s)", s.fieldNames())
		}
		return c, nil
	}
	if c.maxRep != 0 {
		return c, inputErrorf(s.name, name, -1, "wrong type: a list, want a string or an integer")
	}
	if c.kind, err = keyKind(c.leaf.Type()); err != nil {
		return c, inputErrorf(s.name, name, -1, "wrong type: %v", err)
	}
	return c, nil
}

// listColumn finds a list column. Its leaf is checked by the caller for
// embeddings, and here, as string or integer, for every other list.
func (s *Shard) listColumn(name string, embedding bool) (column, error) {
	c, found, err := s.lookup(name)
	if err != nil {
		return c, err
	}
	if !found {
		if embedding {
			return c, inputErrorf(s.name, name, -1, "missing column (the file has %s)", s.fieldNames())
		}
		return c, nil
	}
	if c.maxRep != 1 {
		return c, inputErrorf(s.name, name, -1, "wrong type: %s, want a list", describe(c.leaf.Type(), c.maxRep))
	}
	if !embedding {
		if c.kind, err = keyKind(c.leaf.Type()); err != nil {
			return c, inputErrorf(s.name, name, -1, "wrong type: a list of %v", err)
		}
	}
	return c, nil
}

// embeddingType checks the embedding's element type.
func (s *Shard) embeddingType() (ElementType, error) {
	t := s.embedding.leaf.Type()
	switch t.Kind() {
	case parquet.Float:
		return Float32, nil
	case parquet.Double:
		return Float64, nil
	case parquet.FixedLenByteArray:
		// parquet-go does not know the FLOAT16 logical type, so look in the footer.
		if el := s.leafElement(s.embedding.index); el != nil && t.Length() == 2 {
			if _, ok := el.LogicalType.Value.(*format.Float16Type); ok {
				return Float16, nil
			}
		}
	}
	return 0, inputErrorf(s.name, s.embedding.name, -1, "wrong type: a list of %s, want a list of float32, float64 or float16", t)
}

// leafElement returns the footer's schema element of leaf column index, or nil.
// Leaves appear in the flattened schema in column order.
func (s *Shard) leafElement(index int) *format.SchemaElement {
	leaf := 0
	schema := s.file.Metadata().Schema
	for i := range schema {
		if n, _ := schema[i].NumChildren.Get(); n > 0 {
			continue
		}
		if leaf == index {
			return &schema[i]
		}
		leaf++
	}
	return nil
}

// keyKind returns the Kind of an id or label column of type t.
func keyKind(t parquet.Type) (Kind, error) {
	lt := t.LogicalType()
	switch t.Kind() {
	case parquet.ByteArray:
		if lt == nil || lt.Value == nil {
			return String, nil
		}
		switch lt.Value.(type) {
		case *format.StringType, *format.EnumType:
			return String, nil
		}
	case parquet.Int64:
		if lt == nil || lt.Value == nil {
			return Int64, nil
		}
		if it, ok := lt.Value.(*format.IntType); ok && it.IsSigned {
			return Int64, nil
		}
	case parquet.Int32:
		if lt == nil || lt.Value == nil {
			return Int64, nil
		}
		if _, ok := lt.Value.(*format.IntType); ok { // signed or unsigned, 32 bits fit int64
			return Int64, nil
		}
	}
	return 0, fmt.Errorf("%s, want a string or a signed integer", t)
}

// describe names a column's type for a message.
func describe(t parquet.Type, maxRep int) string {
	if maxRep == 0 {
		return "a single " + t.String()
	}
	return fmt.Sprintf("a list nested %d deep of %s", maxRep, t)
}

// fieldNames lists the top-level fields of the file, for messages.
func (s *Shard) fieldNames() string {
	var names []string
	for _, c := range s.file.Root().Columns() {
		names = append(names, c.Name())
	}
	return fmt.Sprintf("%q", names)
}

// failureLog passes reads to r and counts those that fail for a reason other
// than the end of the file, keeping the last such error. Decoders see a
// failed read as missing or wrong bytes and may report them as corrupt; the
// Read methods consult the log and report the read's failure instead, so that
// a throttled or broken read stays what it is (retryable) and only bytes that
// arrived and are wrong make an *InputError.
type failureLog struct {
	r      io.ReaderAt
	mu     sync.Mutex
	failed int64
	last   error
}

func (l *failureLog) ReadAt(p []byte, off int64) (int, error) {
	n, err := l.r.ReadAt(p, off)
	if err != nil && !errors.Is(err, io.EOF) {
		l.mu.Lock()
		l.failed++
		l.last = err
		l.mu.Unlock()
	}
	return n, err
}

// mark returns the number of failed reads so far, for settle.
func (l *failureLog) mark() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.failed
}

// since returns the last failure after mark, or nil.
func (l *failureLog) since(mark int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failed > mark {
		return l.last
	}
	return nil
}

// settle returns err, or the reader's failure when a read failed since mark:
// whatever a decoder concluded from a failed read, the failure is the cause.
func settle(l *failureLog, mark int64, name string, err error) error {
	if err == nil {
		return nil
	}
	failure := l.since(mark)
	if failure == nil {
		return err
	}
	var ie *InputError
	if errors.Is(err, failure) && !errors.As(err, &ie) {
		return err // already the read's error, with its context
	}
	return fmt.Errorf("read %s: %w", name, failure)
}

// settle is settle for the shard's reader.
func (s *Shard) settle(mark int64, err error) error { return settle(s.r, mark, s.name, err) }
