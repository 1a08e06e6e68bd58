package miner

import (
	"os"
	"testing"
)

// shippedMinQueries are minQueriesVNNI and minQueriesAVX2 as the package
// sets them, before TestMain turns them off (package variables are set
// before TestMain runs).
var shippedMinQueries = [2]int{minQueriesVNNI, minQueriesAVX2}

// TestMain runs the tests with the int8 prefilter on tiles of any number of
// queries and any K: their tiles are small, and below minQueries or with
// many rows entering the top K (manyEntering) the search would run them
// exact and leave the prefilter untested. TestFewQueriesRunExact and
// TestManyEnteringRunExact check the rules themselves.
func TestMain(m *testing.M) {
	minQueriesVNNI, minQueriesAVX2 = 0, 0
	enteringRule = false
	os.Exit(m.Run())
}
