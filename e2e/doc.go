// Package e2e holds hardneg's end-to-end tests: real worker processes, a real
// Temporal dev server and a real S3 gateway (versitygw) on loopback, started
// by the tests themselves. It has no code of its own.
package e2e
