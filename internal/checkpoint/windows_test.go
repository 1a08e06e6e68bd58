package checkpoint

import (
	"reflect"
	"strings"
	"testing"

	"github.com/hardneg/hardneg/miner"
)

func sampleWindows() ([]QueryWindow, *IDTable) {
	table := &IDTable{Rows: []int64{2, 5, 9, 40}, IDs: []string{"c2", "c5", "c9", "c40"}}
	qws := []QueryWindow{
		{ID: "q1", Positives: []string{"c9", "absent"}, Win: miner.Window{
			Hard:      []miner.Negative{{Row: 5, Score: 0.5, Kind: miner.KindHard, Rank: 3}, {Row: 2, Score: -0.25, Kind: miner.KindHard, Rank: 0}},
			Easy:      []miner.Negative{{Row: 40, Score: 0.01, Kind: miner.KindEasy, Rank: -1}},
			Positives: []miner.Candidate{{Row: 9, Score: 0.75}}, Anchor: 0.75, HasAnchor: true,
			Removed: miner.Removed{Pool: 12, Positive: 1, AbsoluteMargin: 2, RelativeMargin: 3, MaxScore: 4, MinScore: 5, RangeMax: 6, RangeMin: 7},
		}},
		{ID: "q2", Label: "sports"}, // nothing survived
	}
	for i := range qws {
		qws[i].IDs = table
	}
	return qws, table
}

// TestWindowsRoundTrip writes a block's windows and reads them back equal,
// every query sharing the block's id table.
func TestWindowsRoundTrip(t *testing.T) {
	qws, table := sampleWindows()
	got, err := DecodeWindows(EncodeWindows(qws, table), "block")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(qws) {
		t.Fatalf("read %d windows, want %d", len(got), len(qws))
	}
	for i := range got {
		if !reflect.DeepEqual(got[i].IDs, table) {
			t.Errorf("window %d: id table %+v, want %+v", i, got[i].IDs, table)
		}
		got[i].IDs, qws[i].IDs = nil, nil
		if !reflect.DeepEqual(got[i], qws[i]) {
			t.Errorf("window %d read back as\n%+v\nwant\n%+v", i, got[i], qws[i])
		}
	}
}

// TestWindowsRefused checks that damaged windows are an error naming the file.
func TestWindowsRefused(t *testing.T) {
	qws, table := sampleWindows()
	enc := EncodeWindows(qws, table)
	raw, _ := zstdDecoder.DecodeAll(enc, decodeBuffer(enc))
	for _, tc := range []struct {
		name, want string
		data       []byte
	}{
		{"cut short", "ends early", zstdEncoder.EncodeAll(raw[:len(raw)-3], nil)},
		{"other version", "windows version 7", zstdEncoder.EncodeAll(append([]byte{7}, raw[1:]...), nil)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeWindows(tc.data, "block-b000001")
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "block-b000001") {
				t.Errorf("got %v, want an error naming block-b000001 and saying %q", err, tc.want)
			}
		})
	}
}
