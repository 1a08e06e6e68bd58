// Command devservers runs hardneg's local servers in the foreground: a Temporal
// dev server with its UI and hardneg's search attributes, and a versitygw S3
// gateway over a local folder, both on loopback, until Ctrl-C.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/hardneg/hardneg/internal/devenv"
)

func main() {
	dir := flag.String("dir", ".demo", "folder for the S3 data and the Temporal database")
	s3Port := flag.Int("s3-port", 7070, "S3 gateway port on 127.0.0.1")
	tPort := flag.Int("temporal-port", 7233, "Temporal frontend port on 127.0.0.1")
	uiPort := flag.Int("ui-port", 8233, "Temporal UI port on 127.0.0.1")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		log.Fatal(err)
	}
	tmp, err := devenv.StartTemporal(ctx, devenv.TemporalOptions{Port: *tPort, UIPort: *uiPort,
		DBFile: filepath.Join(*dir, "temporal.db")}, os.Stderr)
	if err != nil {
		log.Fatal(err)
	}
	defer tmp.Stop()
	s3, err := devenv.StartS3(ctx, filepath.Join(*dir, "s3"), *s3Port, "hardneg", "hardneg-local-secret", os.Stderr)
	if err != nil {
		log.Fatal(err)
	}
	defer s3.Stop()
	fmt.Printf("Temporal %s, UI %s\nS3 %s (folder %s)\nfor the worker and starter:\n", tmp.Addr, tmp.UIURL(), s3.Endpoint, s3.Dir)
	fmt.Printf("  export TEMPORAL_ADDRESS=%s\n", tmp.Addr)
	for _, kv := range s3.Env() {
		fmt.Printf("  export %s\n", kv)
	}
	fmt.Println("Ctrl-C stops both.")
	<-ctx.Done()
}
