package storagetest

import (
	"context"
	"strings"
	"testing"

	"github.com/hardneg/hardneg/storage"
)

// Op is one operation of a Store, as RunFailures calls it.
type Op string

// The operations RunFailures can call.
const (
	OpList   Op = "list"
	OpStat   Op = "stat"
	OpOpen   Op = "open"
	OpPut    Op = "put"
	OpDelete Op = "delete"
)

// AllOps is every operation.
var AllOps = []Op{OpList, OpStat, OpOpen, OpPut, OpDelete}

// Failure is a store in a place where each of Ops must fail with an error
// that storage.Classify judges as Want: its FailNow and Unreachable, and its
// Problem unless Want is a plain retry (a 503 may read as throttled or as a
// server error; both are retried).
type Failure struct {
	Name  string
	Store storage.Store
	Ops   []Op
	Want  storage.Verdict
}

// RunFailures checks, for every case, that each operation fails and that
// storage.Classify reads the failure as the case wants: the classification
// table holds against the backend's real errors, not only against errors
// built by hand.
func RunFailures(t *testing.T, cases []Failure) {
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			for _, op := range c.Ops {
				err := call(c.Store, op)
				if err == nil {
					t.Errorf("%s: no error", op)
					continue
				}
				v := storage.Classify(err)
				sameProblem := v.Problem == c.Want.Problem || !(c.Want.FailNow || c.Want.Unreachable)
				if v.FailNow != c.Want.FailNow || v.Unreachable != c.Want.Unreachable || !sameProblem {
					t.Errorf("%s: %v\nclassified %+v, want %+v", op, err, v, c.Want)
				}
			}
		})
	}
}

// call runs op against s on the key "failures/k".
func call(s storage.Store, op Op) error {
	ctx := context.Background()
	const key = "failures/k"
	var err error
	switch op {
	case OpList:
		_, err = s.List(ctx, "failures/")
	case OpStat:
		_, err = s.Stat(ctx, key)
	case OpOpen:
		var obj storage.Object
		if obj, err = s.Open(ctx, key); err == nil {
			_, err = obj.ReadAt(make([]byte, 1), 0)
			obj.Close()
		}
	case OpPut:
		err = s.Put(ctx, key, strings.NewReader("x"))
	case OpDelete:
		err = s.Delete(ctx, key)
	}
	return err
}
