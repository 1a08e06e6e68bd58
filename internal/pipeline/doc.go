// Package pipeline holds what the tiles of one worker process share as they
// go through the stages of MineTile (fetch → acquire → decode → search →
// write): the turn to decode and search (Turns) and the number of tiles in
// flight (TilesInFlight), the fetches of waiting tiles (Fetcher), the caches
// of decoded query blocks and corpus shards (LRU, with BufPool recycling
// their buffers) and the floors each query block's tiles raise (FloorBook).
//
// It knows nothing of Temporal, stores or Parquet: package activities joins
// these pieces to the job's plan.
package pipeline
