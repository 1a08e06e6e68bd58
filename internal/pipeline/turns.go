package pipeline

import "sync"

// TilesInFlight is how many tiles a worker process mines at once: one
// searches while the other is handed out and gets ready, fetching its data
// or taking it from the caches (a search uses every core), and one tile
// writes its partial while the next one decodes. More would only hold more
// memory: the tiles take turns to decode and search (Turns).
const TilesInFlight = 2

// Turns lets one tile of a process decode and search at a time. A decoding
// beside a search slowed the search by more than the decoding took alone, so
// a tile that finds the turn taken prepares what needs few cores
// and waits.
type Turns struct{ mu sync.Mutex }

// Take takes the turn. When another tile holds it, Take first calls prepare,
// then waits for the turn. When prepare fails, Take returns its error
// without the turn.
func (t *Turns) Take(prepare func() error) error {
	if t.mu.TryLock() {
		return nil
	}
	if err := prepare(); err != nil {
		return err
	}
	t.mu.Lock()
	return nil
}

// Give gives the turn to the next tile.
func (t *Turns) Give() { t.mu.Unlock() }
