// Command starter starts the hardneg job of one epoch and, with --wait, follows
// it to the end.
//
//	starter --spec job.json [--set field=value ...] [--run R --epoch N ...] [--wait] [--force]
//
// The spec is the workflow's JSON input (README: "The job spec"); flags override
// its fields. The exit status is 0 when the job succeeded (or was started,
// without --wait), 1 when it failed, 2 when the spec or flags are wrong.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/hardneg/hardneg/internal/connect"
	"github.com/hardneg/hardneg/internal/jobclient"
	"github.com/hardneg/hardneg/workflows"
)

// sets collects repeated --set field=value flags.
type sets []string

func (s *sets) String() string     { return strings.Join(*s, ",") }
func (s *sets) Set(v string) error { *s = append(*s, v); return nil }

func main() {
	os.Exit(run())
}

func run() int {
	fs := flag.NewFlagSet("starter", flag.ContinueOnError)
	conn := connect.RegisterFlags(fs)
	specFile := fs.String("spec", "", "job spec JSON file (- for standard input)")
	taskQueue := fs.String("task-queue", envOr("HARDNEG_TASK_QUEUE", "hardneg"), "task queue of the workers (HARDNEG_TASK_QUEUE)")
	ui := fs.String("ui", envOr("HARDNEG_UI_URL", "http://127.0.0.1:8233"), "base URL of the Temporal UI, for the printed link (HARDNEG_UI_URL)")
	wait := fs.Bool("wait", false, "wait for the job, showing its progress, then print its summary")
	force := fs.Bool("force", false, "mine a finished epoch again")
	var overrides sets
	fs.Var(&overrides, "set", "set a spec field: --set num_negatives=5 (repeatable; value is JSON, or a string)")
	short := map[string]*string{}
	for _, f := range []string{"run", "epoch", "corpus", "queries", "output"} {
		short[f] = fs.String(f, "", "spec field "+f)
	}
	if err := fs.Parse(os.Args[1:]); err != nil {
		return 2
	}
	for name, v := range short {
		if *v != "" {
			overrides = append(overrides, name+"="+*v)
		}
	}
	spec, err := buildSpec(*specFile, overrides)
	if err == nil {
		// Refuse a bad spec before reaching for the server at all.
		err = spec.WithDefaults().Validate()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "starter:", err)
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	c, err := conn.Dial(logger, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "starter:", err)
		return 1
	}
	defer c.Close()
	wr, how, err := jobclient.Start(ctx, c, spec, *taskQueue, *force)
	if err != nil {
		fmt.Fprintln(os.Stderr, "starter:", err)
		var fe *workflows.FieldError
		if errors.As(err, &fe) {
			return 2
		}
		return 1
	}
	fmt.Printf("job %s %s\n  %s\n", wr.GetID(), how, jobclient.UILink(*ui, conn.Namespace, wr.GetID()))
	if !*wait && how != jobclient.Finished {
		return 0
	}
	res, err := jobclient.Wait(ctx, c, wr, progressBar)
	fmt.Fprintln(os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "job failed:", err)
		return 1
	}
	printResult(res)
	return 0
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// buildSpec reads the spec file (if any), applies field=value overrides and
// decodes the result strictly, so that unknown fields are refused by name.
func buildSpec(file string, overrides []string) (workflows.Spec, error) {
	fields := map[string]json.RawMessage{}
	if file != "" {
		data, err := readFile(file)
		if err != nil {
			return workflows.Spec{}, err
		}
		if err := json.Unmarshal(data, &fields); err != nil {
			return workflows.Spec{}, fmt.Errorf("read spec %s: %w", file, err)
		}
	}
	for _, o := range overrides {
		name, value, ok := strings.Cut(o, "=")
		if !ok {
			return workflows.Spec{}, fmt.Errorf("--set %q: want field=value", o)
		}
		if json.Valid([]byte(value)) {
			fields[name] = json.RawMessage(value)
		} else {
			quoted, _ := json.Marshal(value)
			fields[name] = quoted
		}
	}
	data, _ := json.Marshal(fields)
	return workflows.DecodeSpec(bytes.NewReader(data))
}

func readFile(name string) ([]byte, error) {
	if name == "-" {
		var b bytes.Buffer
		_, err := b.ReadFrom(os.Stdin)
		return b.Bytes(), err
	}
	return os.ReadFile(name)
}

// progressBar draws one line on standard error from the progress query.
func progressBar(p workflows.Progress) {
	const width = 30
	n := int(p.Fraction * width)
	left := ""
	if p.EstimatedSecondsLeft != nil {
		left = fmt.Sprintf(", ~%.0fs left", *p.EstimatedSecondsLeft)
	}
	fmt.Fprintf(os.Stderr, "\r[%s%s] %5.1f%% %-9s tiles %d/%d blocks %d/%d%s   ",
		strings.Repeat("#", n), strings.Repeat(".", width-n), 100*p.Fraction, p.Phase,
		p.TilesDone, p.TilesTotal, p.BlocksMerged, p.BlocksTotal, left)
}

func printResult(r workflows.Result) {
	if r.Reused {
		fmt.Println("reused: the output already held the finished result of these inputs; nothing was mined (--force mines again)")
	}
	fmt.Printf("done: %d queries in %d blocks; tiles mined %d, skipped (checkpointed) %d of %d\n",
		r.Queries, r.Blocks, r.TilesMined, r.TilesSkipped, r.TilesTotal)
	fmt.Printf("output   %s\nmanifest %s\n", r.Output, r.Manifest)
	for _, ph := range r.Phases {
		fmt.Printf("  %-9s %.1fs\n", ph.Name, ph.End.Sub(ph.Start).Seconds())
	}
}
