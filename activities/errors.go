package activities

import (
	"errors"
	"fmt"

	"go.temporal.io/sdk/temporal"

	"github.com/hardneg/hardneg/dataset"
	"github.com/hardneg/hardneg/internal/job"
	"github.com/hardneg/hardneg/internal/location"
	"github.com/hardneg/hardneg/miner"
	"github.com/hardneg/hardneg/storage"
	"github.com/hardneg/hardneg/workflows"
)

// invalid is a non-retryable InvalidInput error with message msg.
func invalid(msg string) error {
	return temporal.NewNonRetryableApplicationError(msg, workflows.ErrInvalidInput, nil)
}

// classify turns bad input (a *job.InvalidError, a *dataset.InputError, a
// *miner.ParamError or a *workflows.FieldError anywhere in err's chain) into
// a non-retryable InvalidInput error with the cause's own message, and leaves
// other errors as they are. Every activity passes the error it returns through classifyIn,
// which calls it and judges the stores' errors too.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var bad *job.InvalidError
	if errors.As(err, &bad) {
		return invalid(bad.Msg)
	}
	var in *dataset.InputError
	if errors.As(err, &in) {
		return temporal.NewNonRetryableApplicationError(in.Error(), workflows.ErrInvalidInput, err)
	}
	var pe *miner.ParamError
	if errors.As(err, &pe) {
		return temporal.NewNonRetryableApplicationError(pe.Error(), workflows.ErrInvalidInput, err)
	}
	var fe *workflows.FieldError
	if errors.As(err, &fe) {
		return temporal.NewNonRetryableApplicationError(err.Error(), workflows.ErrInvalidInput, err)
	}
	return err
}

// classifyIn is classify for an activity of the job spec: on top of bad
// input, it judges the errors of the stores with storage.Classify. A mistake
// in a location (no such bucket, access denied, a wrong region, a path that
// is not a folder) becomes a non-retryable InvalidInput error naming the spec
// field, the location and what to check; a store that does not answer becomes
// a retryable error of type workflows.ErrStorageUnreachable, which the
// workflow reports while it waits. Every other error is left to retry.
func classifyIn(spec workflows.Spec, err error) error {
	err = classify(err)
	var app *temporal.ApplicationError
	if err == nil || errors.As(err, &app) {
		return err
	}
	v := storage.Classify(err)
	if v.Retry() {
		return err
	}
	where := "storage"
	if uri, ok := location.Of(err); ok {
		where = fieldOf(spec, uri) + " " + uri
	}
	if v.Unreachable {
		return temporal.NewApplicationErrorWithCause(fmt.Sprintf("%s: %s: %v", where, v.Problem, err),
			workflows.ErrStorageUnreachable, err)
	}
	return temporal.NewNonRetryableApplicationError(
		fmt.Sprintf("%s: %s: %s (%v)", where, v.Problem, v.Check, err), workflows.ErrInvalidInput, err)
}

// fieldOf names the spec field whose location is uri.
func fieldOf(spec workflows.Spec, uri string) string {
	switch uri {
	case spec.Output:
		return "output"
	case spec.Corpus:
		return "corpus"
	case spec.Queries:
		return "queries"
	}
	return "location"
}
