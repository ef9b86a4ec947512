package pool

import (
	"fmt"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

func TestSecretMasksButDecodes(t *testing.T) {
	var cfg struct {
		Password Secret `toml:"password"`
		Empty    Secret `toml:"empty"`
	}
	if _, err := toml.Decode(`password = "hunter2"`, &cfg); err != nil {
		t.Fatal(err)
	}
	if string(cfg.Password) != "hunter2" {
		t.Fatalf("decoded %q", string(cfg.Password))
	}
	if s := fmt.Sprint(cfg.Password); s != Masked {
		t.Fatalf("printed as %q, want the mask", s)
	}
	out, _ := cfg.Password.MarshalText()
	empty, _ := cfg.Empty.MarshalText()
	if string(out) != Masked || len(empty) != 0 {
		t.Fatalf("encoded as %q and %q", out, empty)
	}
}

func TestEmptySecretEncodesInAConfig(t *testing.T) {
	var buf strings.Builder
	cfg := struct {
		Password Secret `toml:"password"`
	}{}
	if err := toml.NewEncoder(&buf).Encode(cfg); err != nil {
		t.Fatalf("encoding a config with an empty secret: %v", err)
	}
	if !strings.Contains(buf.String(), `password = ""`) {
		t.Fatalf("encoded as %q", buf.String())
	}
}
