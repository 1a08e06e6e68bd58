package job

import (
	"strings"
	"testing"
)

// TestParseWorkKey checks that the names TileKey and BlockKey give parse back
// to their numbers, and that names written otherwise do not parse.
func TestParseWorkKey(t *testing.T) {
	for _, c := range []struct {
		name         string
		kind         string
		block, shard int
		ok           bool
	}{
		{strings.TrimPrefix(TileKey("fp", 3, 12), WorkPrefix("fp")), "tile", 3, 12, true},
		{strings.TrimPrefix(BlockKey("fp", 7), WorkPrefix("fp")), "block", 7, 0, true},
		{"tile-b3-s12.ckpt", "", 0, 0, false},         // not five digits
		{"block-b00007.parquet", "", 0, 0, false},     // not a checkpoint
		{"tile-b00003-s00012.ckpt~", "", 0, 0, false}, // trailing bytes
		{"plan.json", "", 0, 0, false},
	} {
		kind, b, s, ok := ParseWorkKey(c.name)
		if kind != c.kind || b != c.block || s != c.shard || ok != c.ok {
			t.Errorf("ParseWorkKey(%q) = %q, %d, %d, %v; want %q, %d, %d, %v", c.name, kind, b, s, ok, c.kind, c.block, c.shard, c.ok)
		}
	}
}

// TestPartBlock checks that only keys named as PartKey names parts give a
// block.
func TestPartBlock(t *testing.T) {
	for _, c := range []struct {
		key   string
		block int
		ok    bool
	}{
		{PartKey(0), 0, true},
		{PartKey(123456), 123456, true},
		{"part-1.parquet", 0, false},
		{"old/part-00001.parquet", 0, false},
		{"part-00001.parquet.tmp", 0, false},
	} {
		if b, ok := PartBlock(c.key); b != c.block || ok != c.ok {
			t.Errorf("PartBlock(%q) = %d, %v; want %d, %v", c.key, b, ok, c.block, c.ok)
		}
	}
}
