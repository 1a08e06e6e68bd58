package dataset

import "fmt"

// A shard's bytes come from whoever wrote the data set, so the reader must
// survive any of them: no panic, and no allocation that a size field of the
// file asks for but the file's bytes cannot back (FuzzOpenShard,
// FuzzReadRows).

// recoverCorrupt turns a panic of the Parquet decoder (parquet-go trusts
// some of the file's offsets and lengths) into an *InputError naming the
// object. Every exported entry point that calls parquet-go defers it, as do
// the goroutines that decode pages.
func recoverCorrupt(object string, err *error) {
	if p := recover(); p != nil {
		*err = inputErrorf(object, "", -1, "corrupt Parquet: the decoder failed: %v", p)
	}
}

// maxExpansion bounds how many bytes of decoded values one byte of a file
// may give. Dictionary and run-length encodings make real columns a few
// times smaller than their values; only degenerate data (every embedding
// the same) comes near a thousand; a footer that claims more is lying, and
// believing it would let a few hundred bytes allocate terabytes.
const maxExpansion = 1024

// minDecodeBudget is what any file may decode to, however small.
const minDecodeBudget = 64 << 20

// decodeBudget is the most bytes of decoded values a file of size bytes may
// yield: the bound on allocations made from its size fields.
func decodeBudget(size int64) int64 {
	return max(size, 0)*maxExpansion + minDecodeBudget
}

// capHint bounds a capacity hint taken from a file's row counts by the
// file's size, so that a lying footer cannot allocate; an honest file's
// values still fit (the slice grows).
func capHint(n, size int64) int {
	return int(max(0, min(n, size+1024)))
}

// checkDecoded returns an *InputError when n values of elem bytes each would
// exceed the decode budget of a file of size bytes.
func checkDecoded(object, column string, n, elem, size int64) error {
	if n < 0 || elem > 0 && n > decodeBudget(size)/elem {
		return inputErrorf(object, column, -1, "corrupt: %s values of %d bytes claimed by a file of %d bytes", fmt.Sprint(n), elem, size)
	}
	return nil
}
