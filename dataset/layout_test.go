package dataset

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"reflect"
	"testing"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/encoding"
	"github.com/parquet-go/parquet-go/format"
)

// The embedding decoder is hand-written, so these tests write shards with
// parquet-go in every layout a writer may choose (page versions, page sizes,
// row groups, codecs, encodings, element types, list nesting) and check that
// every value reads back, and that each kind of bad row is found at its row.

// float16Type is FIXED_LEN_BYTE_ARRAY(2) with the FLOAT16 logical type,
// which parquet-go has no constructor for.
type float16Type struct{ parquet.Type }

func (float16Type) LogicalType() *format.LogicalType {
	return &format.LogicalType{Value: &format.Float16Type{}}
}

// layout is how a test shard is written.
type layout struct {
	rows, dim    int
	elem         ElementType
	enc          encoding.Encoding // nil: plain
	codec        compress.Codec
	pageV        int   // data page version, 1 or 2
	pageBuffer   int   // bytes per page (roughly)
	rowGroupRows int64 // 0: one row group
	required     bool  // a required list of required elements (two definition levels fewer)
}

func (l layout) String() string {
	enc := "plain"
	if l.enc != nil {
		enc = l.enc.String()
	}
	return fmt.Sprintf("%dx%d-%v-%s-%s-v%d-page%d-rg%d-req%v", l.rows, l.dim, l.elem, enc, l.codec, l.pageV, l.pageBuffer, l.rowGroupRows, l.required)
}

// value is element j of row i: exact in float16, float32 and float64.
func value(i, j int) float32 { return float32((i*7+j*3)%512-256) / 8 }

// badRow changes row i of a test shard: emb nil means a null list,
// an empty slice an empty list, a NaN element a null element.
type badRow func(i int, emb []float32) ([]float32, bool)

// layoutSchema is the schema of a shard with the given layout: a string id
// and an embedding list of the layout's element type, encoding and codec.
func layoutSchema(l layout) *parquet.Schema {
	var leafType parquet.Type
	switch l.elem {
	case Float32:
		leafType = parquet.FloatType
	case Float64:
		leafType = parquet.DoubleType
	case Float16:
		leafType = float16Type{parquet.FixedLenByteArrayType(2)}
	}
	leaf := parquet.Leaf(leafType)
	if l.enc != nil {
		leaf = parquet.Encoded(leaf, l.enc)
	}
	leaf = parquet.Compressed(leaf, l.codec)
	var list parquet.Node
	if l.required {
		list = parquet.List(leaf)
	} else {
		list = parquet.Optional(parquet.List(parquet.Optional(leaf)))
	}
	return parquet.NewSchema("test", parquet.Group{
		"id":        parquet.String(),
		"embedding": list,
	})
}

// writeShard writes a shard with the given layout; bad may replace rows.
func writeShard(t testing.TB, l layout, bad badRow) []byte {
	t.Helper()
	schema := layoutSchema(l)
	// Column indexes follow the schema's (sorted) field order.
	embLeaf, _ := schema.Lookup("embedding", "list", "element")
	idLeaf, _ := schema.Lookup("id")
	embCol, idCol := embLeaf.ColumnIndex, idLeaf.ColumnIndex
	maxDef := 3
	if l.required {
		maxDef = 1
	}
	opts := []parquet.WriterOption{schema, parquet.DataPageVersion(l.pageV), parquet.PageBufferSize(l.pageBuffer)}
	if l.rowGroupRows > 0 {
		opts = append(opts, parquet.MaxRowsPerRowGroup(l.rowGroupRows))
	}
	var buf bytes.Buffer
	w := parquet.NewWriter(&buf, opts...)
	for i := range l.rows {
		emb := make([]float32, l.dim)
		for j := range emb {
			emb[j] = value(i, j)
		}
		isNull := false
		if bad != nil {
			if e, changed := bad(i, emb); changed {
				emb, isNull = e, e == nil
			}
		}
		var row parquet.Row
		idVal := parquet.ByteArrayValue([]byte(fmt.Sprintf("r%d", i))).Level(0, 0, idCol)
		var embVals parquet.Row
		switch {
		case isNull:
			embVals = append(embVals, parquet.NullValue().Level(0, 0, embCol))
		case len(emb) == 0:
			embVals = append(embVals, parquet.NullValue().Level(0, maxDef-2, embCol))
		}
		for j, f := range emb {
			rep := min(j, 1)
			if f != f { // NaN marks a null element
				embVals = append(embVals, parquet.NullValue().Level(rep, maxDef-1, embCol))
				continue
			}
			embVals = append(embVals, elemValue(l.elem, f).Level(rep, maxDef, embCol))
		}
		if idCol < embCol {
			row = append(append(row, idVal), embVals...)
		} else {
			row = append(append(row, embVals...), idVal)
		}
		if _, err := w.WriteRows([]parquet.Row{row}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func elemValue(t ElementType, f float32) parquet.Value {
	switch t {
	case Float64:
		return parquet.DoubleValue(float64(f))
	case Float16:
		var b [2]byte
		binary.LittleEndian.PutUint16(b[:], floatToHalf(f))
		return parquet.FixedLenByteArrayValue(b[:])
	}
	return parquet.FloatValue(f)
}

// floatToHalf narrows f, which must be exact in float16 (or ±Inf/NaN).
func floatToHalf(f float32) uint16 {
	bits := math.Float32bits(f)
	sign := uint16(bits>>16) & 0x8000
	exp := int(bits>>23&0xff) - 127 + 15
	frac := uint16(bits>>13) & 0x3ff
	switch {
	case math.IsNaN(float64(f)):
		return sign | 0x7e00
	case math.IsInf(float64(f), 0):
		return sign | 0x7c00
	case f == 0:
		return sign
	case exp <= 0: // subnormal
		return sign | uint16((bits&0x7fffff|0x800000)>>uint(14-exp))
	}
	return sign | uint16(exp)<<10 | frac
}

func layouts() []layout {
	base := layout{rows: 300, dim: 24, elem: Float32, codec: &parquet.Zstd, pageV: 1, pageBuffer: 4096}
	var ls []layout
	add := func(f func(l *layout)) {
		l := base
		f(&l)
		ls = append(ls, l)
	}
	add(func(l *layout) {})
	add(func(l *layout) { l.pageV = 2 })
	add(func(l *layout) { l.pageBuffer = 1 << 20 })
	add(func(l *layout) { l.pageBuffer = 100 }) // pages of about one row
	add(func(l *layout) { l.rowGroupRows = 7 })
	add(func(l *layout) { l.rowGroupRows = 64; l.pageV = 2 })
	add(func(l *layout) { l.codec = &parquet.Snappy })
	add(func(l *layout) { l.codec = &parquet.Gzip })
	add(func(l *layout) { l.codec = &parquet.Uncompressed })
	add(func(l *layout) { l.codec = &parquet.Uncompressed; l.pageV = 2 })
	add(func(l *layout) { l.enc = &parquet.RLEDictionary })
	add(func(l *layout) { l.enc = &parquet.RLEDictionary; l.pageV = 2 })
	add(func(l *layout) { l.enc = &parquet.ByteStreamSplit })
	add(func(l *layout) { l.elem = Float64 })
	add(func(l *layout) { l.elem = Float64; l.enc = &parquet.ByteStreamSplit })
	add(func(l *layout) { l.elem = Float16 })
	add(func(l *layout) { l.elem = Float16; l.pageV = 2; l.codec = &parquet.Snappy })
	add(func(l *layout) { l.required = true })
	add(func(l *layout) { l.required = true; l.pageV = 2 })
	add(func(l *layout) { l.dim = 1 })
	add(func(l *layout) { l.dim = 3 })
	add(func(l *layout) { l.dim = 8 })
	add(func(l *layout) { l.dim = 9; l.rowGroupRows = 10 })
	add(func(l *layout) { l.dim = 768; l.rows = 40 })
	add(func(l *layout) { l.rows = 1 })
	return ls
}

// openGen opens a shard that writeShard wrote.
func openGen(t *testing.T, data []byte) *Shard {
	t.Helper()
	s, err := OpenShard(bytes.NewReader(data), int64(len(data)), "gen.parquet", Columns{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestLayouts(t *testing.T) { bothPaths(t, testLayouts) }

func testLayouts(t *testing.T) {
	for _, l := range layouts() {
		t.Run(l.String(), func(t *testing.T) {
			data := writeShard(t, l, nil)
			s := openGen(t, data)
			if s.Rows() != int64(l.rows) || s.Dim() != l.dim || s.ElementType() != l.elem {
				t.Fatalf("rows %d dim %d type %v, want %d %d %v", s.Rows(), s.Dim(), s.ElementType(), l.rows, l.dim, l.elem)
			}
			got, err := s.ReadEmbeddings(nil)
			if err != nil {
				t.Fatal(err)
			}
			want := make([]float32, 0, l.rows*l.dim)
			for i := range l.rows {
				for j := range l.dim {
					want = append(want, value(i, j))
				}
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("embeddings differ from what was written")
			}
		})
	}
}

// TestBadRowsInLayouts puts one bad row at several places in several layouts
// and checks that the error names that row.
func TestBadRowsInLayouts(t *testing.T) { bothPaths(t, testBadRowsInLayouts) }

func testBadRowsInLayouts(t *testing.T) {
	defects := rowDefects(-1)
	ls := []layout{
		{rows: 200, dim: 16, elem: Float32, codec: &parquet.Zstd, pageV: 1, pageBuffer: 2048},
		{rows: 200, dim: 16, elem: Float32, codec: &parquet.Snappy, pageV: 2, pageBuffer: 2048, rowGroupRows: 30},
		{rows: 200, dim: 5, elem: Float64, codec: &parquet.Zstd, pageV: 1, pageBuffer: 512, enc: &parquet.RLEDictionary},
		{rows: 200, dim: 16, elem: Float16, codec: &parquet.Uncompressed, pageV: 1, pageBuffer: 1024},
	}
	for _, l := range ls {
		for _, d := range defects {
			for _, row := range []int{1, 97, l.rows - 1} {
				if d.name == "empty" && row == 0 || d.name == "null" && row == 0 {
					continue // row 0 is where the dimension is found
				}
				t.Run(fmt.Sprintf("%v/%s/row%d", l, d.name, row), func(t *testing.T) {
					data := writeShard(t, l, func(i int, emb []float32) ([]float32, bool) {
						if i != row {
							return nil, false
						}
						return d.bad(emb), true
					})
					s, err := OpenShard(bytes.NewReader(data), int64(len(data)), "gen.parquet", Columns{})
					if err == nil {
						_, err = s.ReadEmbeddings(nil)
					}
					checkInputError(t, err, "gen.parquet", "embedding", int64(row), d.reason)
				})
			}
		}
	}
}

// TestFirstRowDefines checks that a bad first row is reported at OpenShard.
func TestFirstRowDefines(t *testing.T) {
	l := layout{rows: 10, dim: 4, elem: Float32, codec: &parquet.Zstd, pageV: 1, pageBuffer: 4096}
	for _, tt := range []struct {
		name   string
		emb    []float32
		reason string
	}{{"null", nil, "null embedding"}, {"empty", []float32{}, "empty embedding"}} {
		t.Run(tt.name, func(t *testing.T) {
			data := writeShard(t, l, func(i int, emb []float32) ([]float32, bool) { return tt.emb, i == 0 })
			_, err := OpenShard(bytes.NewReader(data), int64(len(data)), "gen.parquet", Columns{})
			checkInputError(t, err, "gen.parquet", "embedding", 0, tt.reason)
		})
	}
}

// rowDefect is one way to spoil an embedding row, with the words its error
// must contain.
type rowDefect struct {
	name   string
	bad    func(emb []float32) []float32
	reason string
}

// rowDefects lists the row defects the reader must name; the infinite one has
// the sign of infSign.
func rowDefects(infSign int) []rowDefect {
	nan := float32(math.NaN())
	inf := "is +Inf"
	if infSign < 0 {
		inf = "is -Inf"
	}
	return []rowDefect{
		{"null", func([]float32) []float32 { return nil }, "null embedding"},
		{"empty", func([]float32) []float32 { return []float32{} }, "empty embedding"},
		{"short", func(e []float32) []float32 { return e[:len(e)-1] }, "dimension"},
		{"long", func(e []float32) []float32 { return append(e, 1) }, "dimension above"},
		{"null element", func(e []float32) []float32 { e[len(e)/2] = nan; return e }, "is null"},
		{"inf", func(e []float32) []float32 { e[len(e)-1] = float32(math.Inf(infSign)); return e }, inf},
	}
}
