package workflows

import (
	"reflect"
	"testing"
)

func TestSlotsTake(t *testing.T) {
	// max_parallel 4 over 3 blocks of 4 shards: 2, 1, 1.
	s := newSlots(4)
	var got []int
	for b := range 3 {
		got = append(got, s.take(b, 3-b, 4))
	}
	if want := []int{2, 1, 1}; !reflect.DeepEqual(got, want) || s.free != 0 {
		t.Errorf("shares %v, %d free; want %v, 0 free", got, s.free, want)
	}
	s.release(0)
	s.release(0) // a second time changes nothing
	if s.free != 2 {
		t.Errorf("%d free after block 0's release, want 2", s.free)
	}
}

func TestSlotsGrants(t *testing.T) {
	for _, tt := range []struct {
		name     string
		free     int
		held     map[int]int
		notDone  map[int]int
		want     []grant
		wantFree int
	}{
		{"to the block with most left", 2, map[int]int{1: 1, 2: 1}, map[int]int{1: 2, 2: 4},
			[]grant{{2, 2}}, 0},
		{"spread as they even out", 3, map[int]int{1: 1, 2: 1}, map[int]int{1: 3, 2: 3},
			[]grant{{1, 2}, {2, 1}}, 0},
		{"no more than tiles left", 5, map[int]int{1: 1, 2: 2}, map[int]int{1: 2, 2: 3},
			[]grant{{1, 1}, {2, 1}}, 3},
		{"none left to start", 2, map[int]int{1: 2}, map[int]int{1: 2}, nil, 2},
		{"no block in flight", 2, map[int]int{}, nil, nil, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := &slots{free: tt.free, held: tt.held}
			before := map[int]int{}
			for b, n := range tt.held {
				before[b] = n
			}
			got := s.grants(func(b int) int { return tt.notDone[b] })
			if !reflect.DeepEqual(got, tt.want) || s.free != tt.wantFree {
				t.Errorf("grants %v, %d free; want %v, %d free", got, s.free, tt.want, tt.wantFree)
			}
			for _, g := range got {
				if s.held[g.block] != before[g.block]+g.slots {
					t.Errorf("block %d holds %d, want %d", g.block, s.held[g.block], before[g.block]+g.slots)
				}
			}
		})
	}
}
