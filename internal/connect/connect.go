// Package connect builds a Temporal client from flags with environment
// fallbacks, the same way for the worker and the starter: TEMPORAL_ADDRESS,
// TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_CERT / TEMPORAL_TLS_KEY
// (mTLS client certificate) and TEMPORAL_TLS_CA. Secrets are read, never printed.
package connect

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"log/slog"
	"os"

	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
)

// Options are the connection settings.
type Options struct {
	Address   string
	Namespace string
	APIKey    string
	TLSCert   string // path of a PEM client certificate
	TLSKey    string // path of its PEM key
	TLSCA     string // path of a PEM CA bundle for the server; empty means the system roots
}

// RegisterFlags defines the connection flags on fs, defaulting to the
// environment, and returns the options they fill.
func RegisterFlags(fs *flag.FlagSet) *Options {
	o := &Options{}
	fs.StringVar(&o.Address, "address", env("TEMPORAL_ADDRESS", "127.0.0.1:7233"), "Temporal frontend host:port (TEMPORAL_ADDRESS)")
	fs.StringVar(&o.Namespace, "namespace", env("TEMPORAL_NAMESPACE", "default"), "Temporal namespace (TEMPORAL_NAMESPACE)")
	fs.StringVar(&o.TLSCert, "tls-cert", os.Getenv("TEMPORAL_TLS_CERT"), "client certificate for mTLS (TEMPORAL_TLS_CERT)")
	fs.StringVar(&o.TLSKey, "tls-key", os.Getenv("TEMPORAL_TLS_KEY"), "client key for mTLS (TEMPORAL_TLS_KEY)")
	fs.StringVar(&o.TLSCA, "tls-ca", os.Getenv("TEMPORAL_TLS_CA"), "CA bundle of the server (TEMPORAL_TLS_CA)")
	// The API key comes from the environment only: a flag would show it in a
	// process listing.
	o.APIKey = os.Getenv("TEMPORAL_API_KEY")
	return o
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// ClientOptions turns the settings into client.Options.
func (o *Options) ClientOptions(logger *slog.Logger) (client.Options, error) {
	opts := client.Options{
		HostPort:  o.Address,
		Namespace: o.Namespace,
		Logger:    tlog.NewStructuredLogger(logger),
	}
	if o.APIKey != "" {
		opts.Credentials = client.NewAPIKeyStaticCredentials(o.APIKey)
		opts.ConnectionOptions.TLS = &tls.Config{}
	}
	if o.TLSCert != "" || o.TLSKey != "" {
		cert, err := tls.LoadX509KeyPair(o.TLSCert, o.TLSKey)
		if err != nil {
			return opts, fmt.Errorf("load Temporal client certificate %s: %w", o.TLSCert, err)
		}
		opts.ConnectionOptions.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	}
	if o.TLSCA != "" {
		pem, err := os.ReadFile(o.TLSCA)
		if err != nil {
			return opts, fmt.Errorf("read Temporal CA bundle: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return opts, fmt.Errorf("read Temporal CA bundle %s: no certificate in it", o.TLSCA)
		}
		if opts.ConnectionOptions.TLS == nil {
			opts.ConnectionOptions.TLS = &tls.Config{}
		}
		opts.ConnectionOptions.TLS.RootCAs = pool
	}
	return opts, nil
}

// Dial connects to Temporal.
func (o *Options) Dial(logger *slog.Logger, metrics client.MetricsHandler) (client.Client, error) {
	opts, err := o.ClientOptions(logger)
	if err != nil {
		return nil, err
	}
	opts.MetricsHandler = metrics
	c, err := client.Dial(opts)
	if err != nil {
		return nil, fmt.Errorf("connect to Temporal at %s (namespace %s): %w", o.Address, o.Namespace, err)
	}
	return c, nil
}
