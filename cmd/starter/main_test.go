package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBuildSpec(t *testing.T) {
	file := filepath.Join(t.TempDir(), "job.json")
	os.WriteFile(file, []byte(`{"run":"r","epoch":3,"corpus":"s3://b/c/","output":"s3://b/o/","num_negatives":2}`), 0o644)
	tests := []struct {
		name      string
		file      string
		overrides []string
		check     func(t *testing.T, got string)
		wantErr   string
	}{
		{name: "file only", file: file, check: func(t *testing.T, got string) {
			if got != "r/3/2/" {
				t.Errorf("got %s", got)
			}
		}},
		{name: "flags override the file", file: file, overrides: []string{"epoch=4", "num_negatives=5", "queries=s3://b/q/"},
			check: func(t *testing.T, got string) {
				if got != "r/4/5/s3://b/q/" {
					t.Errorf("got %s", got)
				}
			}},
		{name: "flags alone", overrides: []string{"run=x", "epoch=0", "corpus=/data/c", "output=/data/o"},
			check: func(t *testing.T, got string) {
				if got != "x/0/0/" {
					t.Errorf("got %s", got)
				}
			}},
		{name: "unknown field", file: file, overrides: []string{"num_negative=5"}, wantErr: `field "num_negative": unknown field`},
		{name: "missing epoch", overrides: []string{"run=x", "corpus=/c", "output=/o"}, wantErr: `"epoch"`},
		{name: "not field=value", file: file, overrides: []string{"epoch"}, wantErr: "want field=value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec, err := buildSpec(tt.file, tt.overrides)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, fmt.Sprintf("%s/%d/%d/%s", spec.Run, spec.Epoch, spec.NumNegatives, spec.Queries))
		})
	}
}
