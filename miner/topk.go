package miner

// Candidate is one corpus item and its score against a query. Row is the
// item's global corpus row: its place in corpus order, which breaks ties.
type Candidate struct {
	Row   int64
	Score float32
}

// Better reports whether a ranks before b: higher score first, and on equal
// scores the lower corpus row.
func Better(a, b Candidate) bool {
	return a.Score > b.Score || (a.Score == b.Score && a.Row < b.Row)
}

// topK keeps the k best candidates seen, as a heap whose root is the worst
// of them, so that a new score is compared with one value in the common case.
// Scores below floor, when hasFloor is set, are never kept (Tile.Floor).
type topK struct {
	k        int
	h        []Candidate
	floor    float32
	hasFloor bool
}

// setFloor makes the heap refuse scores below f.
func (t *topK) setFloor(f float32) { t.floor, t.hasFloor = f, true }

// threshold returns the lowest score that may still enter, if there is one:
// the worst kept when the heap is full (then at least the floor, since
// nothing below it entered), else the floor.
func (t *topK) threshold() (float32, bool) {
	if t.full() {
		return t.h[0].Score, true
	}
	return t.floor, t.hasFloor
}

// push offers c.
func (t *topK) push(c Candidate) {
	if t.hasFloor && c.Score < t.floor {
		return
	}
	if len(t.h) < t.k {
		t.h = append(t.h, c)
		t.up(len(t.h) - 1)
		return
	}
	if t.k == 0 || !Better(c, t.h[0]) {
		return
	}
	t.h[0] = c
	t.down(0)
}

// full reports whether k candidates are held; then threshold is the worst.
func (t *topK) full() bool { return len(t.h) == t.k }

func (t *topK) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !Better(t.h[p], t.h[i]) { // parent is already the worse one
			break
		}
		t.h[p], t.h[i] = t.h[i], t.h[p]
		i = p
	}
}

func (t *topK) down(i int) {
	n := len(t.h)
	for {
		w := i
		l, r := 2*i+1, 2*i+2
		if l < n && Better(t.h[w], t.h[l]) {
			w = l
		}
		if r < n && Better(t.h[w], t.h[r]) {
			w = r
		}
		if w == i {
			return
		}
		t.h[w], t.h[i] = t.h[i], t.h[w]
		i = w
	}
}

// sorted returns the candidates held, best first, sorted in place (a heap
// sort: the worst, at the root, goes to the end of the shrinking heap), and
// leaves the heap empty, with no room: the slice is the caller's now.
func (t *topK) sorted() []Candidate {
	all := t.h
	for n := len(all); n > 1; n-- {
		all[0], all[n-1] = all[n-1], all[0]
		t.h = all[:n-1]
		t.down(0)
	}
	t.h = nil
	return all[:len(all):len(all)]
}
