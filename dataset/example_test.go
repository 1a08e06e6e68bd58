package dataset_test

import (
	"bytes"
	"errors"
	"fmt"
	"log"
	"os"

	"github.com/hardneg/hardneg/dataset"
)

func ExampleOpenShard() {
	f, err := os.Open("testdata/float_varchar.parquet") // written by DuckDB
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		log.Fatal(err)
	}
	s, err := dataset.OpenShard(f, st.Size(), "float_varchar.parquet", dataset.Columns{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(s.Rows(), "rows of dimension", s.Dim(), s.ElementType(), "with", s.IDKind(), "ids")

	ids, err := s.ReadIDs()
	if err != nil {
		log.Fatal(err)
	}
	emb, err := s.ReadEmbeddings(nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ids.Strings()[2], emb[2*s.Dim():3*s.Dim()])
	// Output:
	// 6 rows of dimension 4 float32 with string ids
	// doc-2 [2 2.25 2.5 2.75]
}

func ExampleInputError() {
	f, err := os.Open("testdata/bad_dimension.parquet")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	s, err := dataset.OpenShard(f, st.Size(), "s3://bucket/corpus/bad_dimension.parquet", dataset.Columns{})
	if err == nil {
		_, err = s.ReadEmbeddings(nil)
	}
	var bad *dataset.InputError
	if errors.As(err, &bad) {
		fmt.Println("not retryable:", bad)
	}
	// Output:
	// not retryable: s3://bucket/corpus/bad_dimension.parquet: column "embedding": row 5: dimension 3, want 4
}

func ExampleWriteNTuples() {
	rows := []dataset.NTuple[string]{{
		QueryID:        "q1",
		PositiveIDs:    []string{"d7"},
		PositiveScores: []float32{0.91},
		NegativeIDs:    []string{"d3", "d42"},
		NegativeScores: []float32{0.83, 0.12},
		NegativeKinds:  []string{dataset.HardNegative, dataset.EasyNegative},
		NegativeRanks:  []int32{0, -1},
	}}
	var buf bytes.Buffer
	if err := dataset.WriteNTuples(&buf, rows); err != nil {
		log.Fatal(err)
	}
	back, err := dataset.ReadNTuples[string](bytes.NewReader(buf.Bytes()), int64(buf.Len()), "part-00000.parquet")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(back[0].QueryID, back[0].NegativeIDs, back[0].NegativeKinds)
	// Output:
	// q1 [d3 d42] [hard easy]
}
