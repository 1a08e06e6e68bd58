//go:build !arm64 || purego

package kernel

// pairedQuant is the int8 engine that comes with float engine e on this
// architecture, if any; on arm64 "neon-dot" brings the SDOT prefilter.
func pairedQuant(e *Engine) *QEngine { return nil }
