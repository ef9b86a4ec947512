package main

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/faed/faed/engine"
	"github.com/faed/faed/peer"
	"github.com/faed/faed/servant"

	"github.com/BurntSushi/toml"
)

// Config is faed's whole TOML file; each section belongs to a package.
type Config struct {
	Engine  engine.Config      `toml:"engine"`
	HTTP    engine.AdminConfig `toml:"http"`
	Log     LogConfig          `toml:"log"`
	Servant servant.Config     `toml:"servant"`
	Cluster peer.Config        `toml:"cluster"`
}

// LogConfig holds the [log] section.
type LogConfig struct {
	// Level is debug, info, warn or error. Default "info".
	Level string `toml:"level"`
	// Format is "text" or "json". Default "text".
	Format string `toml:"format"`
}

func defaultConfig() Config {
	return Config{
		Engine:  engine.DefaultConfig(),
		HTTP:    engine.DefaultAdminConfig(),
		Log:     LogConfig{Level: "info", Format: "text"},
		Servant: servant.DefaultConfig(),
		Cluster: peer.DefaultConfig(),
	}
}

// loadConfig reads path over the defaults. An unknown key or an invalid
// value is an error naming the key.
func loadConfig(path string) (Config, error) {
	cfg := defaultConfig()
	md, err := toml.DecodeFile(path, &cfg)
	if err != nil {
		return cfg, fmt.Errorf("%s: %w", path, err)
	}
	if undecoded := md.Undecoded(); len(undecoded) > 0 {
		keys := make([]string, len(undecoded))
		for i, k := range undecoded {
			keys[i] = k.String()
		}
		return cfg, fmt.Errorf("%s: unknown key %s", path, strings.Join(keys, ", "))
	}
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// Validate checks every section; the error names the section and key.
func (c Config) Validate() error {
	sections := []struct {
		name string
		err  error
	}{
		{"engine", c.Engine.Validate()},
		{"http", c.HTTP.Validate()},
		{"log", c.Log.Validate()},
		{"servant", c.Servant.Validate()},
		{"cluster", c.Cluster.Validate()},
	}
	var errs []error
	for _, s := range sections {
		if s.err != nil {
			errs = append(errs, fmt.Errorf("[%s] %w", s.name, s.err))
		}
	}
	errs = append(errs, checkZKRoots(c))  // across sections: see checks.go
	errs = append(errs, checkTimeouts(c)) // across sections: see timeouts.go
	return errors.Join(errs...)
}

// Validate returns an error naming the bad key.
func (c LogConfig) Validate() error {
	if _, err := c.level(); err != nil {
		return err
	}
	if c.Format != "text" && c.Format != "json" {
		return fmt.Errorf("format: want text or json, got %q", c.Format)
	}
	return nil
}

func (c LogConfig) level() (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(c.Level)); err != nil {
		return l, fmt.Errorf("level: want debug, info, warn or error, got %q", c.Level)
	}
	return l, nil
}

// logger writes to stderr at c's level, set into level, where a reload
// changes it.
func (c LogConfig) logger(level *slog.LevelVar) *slog.Logger {
	l, _ := c.level()
	level.Set(l)
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

// effective renders the running configuration as TOML for the admin
// endpoint. Secret fields mask themselves when encoded.
func (c Config) effective() []byte {
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(c); err != nil {
		return []byte("# encoding the configuration failed: " + err.Error() + "\n")
	}
	return buf.Bytes()
}
