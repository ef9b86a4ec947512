package main

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

// TestConfigZeroIsOffOrRefused keeps the rule of zero true for every numeric key
// of every section, the named pools' keys included (one meaning of zero,
// README "Configuration"): etc/faed.full.toml with that one key set to 0
// either loads with the key still 0 (off) or fails naming the key
// (refused), never loads with the 0 turned into the default. The keys
// refused must be the ones the README lists.
func TestConfigZeroIsOffOrRefused(t *testing.T) {
	cfg := fullExample(t)
	if _, err := loadConfig(fullConfig); err != nil {
		t.Fatalf("%s must load as it is: %v", fullConfig, err)
	}
	var refused []string
	for _, path := range numericKeys(reflect.ValueOf(cfg), nil) {
		key := strings.Join(path, ".")
		loaded, err := loadConfig(withZero(t, path))
		switch {
		case err == nil && !lookup(reflect.ValueOf(loaded), path).IsZero():
			t.Errorf("%s = 0 loads as %v: zero must mean off or be refused, never the default",
				key, lookup(reflect.ValueOf(loaded), path).Interface())
		case err != nil && !strings.Contains(err.Error(), path[len(path)-1]):
			t.Errorf("%s = 0 is refused with an error that does not name it: %v", key, err)
		case err != nil:
			refused = append(refused, poolKey(path))
		}
	}
	slices.Sort(refused)
	refused = slices.Compact(refused)
	listed := readmeRefused(t)
	slices.Sort(listed)
	if !slices.Equal(refused, listed) {
		t.Errorf("keys where 0 is refused:\n  %s\nREADME lists:\n  %s",
			strings.Join(refused, "\n  "), strings.Join(listed, "\n  "))
	}
}

// numericKeys returns the path of every numeric key under v, a decoded
// section; in a map of named pools, under each pool's name.
func numericKeys(v reflect.Value, path []string) [][]string {
	var keys [][]string
	forEachKey(v.Type(), path, func(f reflect.StructField, i int, p []string) {
		field := v.Field(i)
		switch {
		case isSection(f.Type):
			keys = append(keys, numericKeys(field, p)...)
		case isPools(f.Type):
			names := field.MapKeys()
			slices.SortFunc(names, func(a, b reflect.Value) int { return strings.Compare(a.String(), b.String()) })
			for _, name := range names {
				keys = append(keys, numericKeys(field.MapIndex(name), append(slices.Clone(p), name.String()))...)
			}
		case isNumber(f.Type):
			keys = append(keys, p)
		}
	})
	return keys
}

func isNumber(t reflect.Type) bool {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Float32, reflect.Float64:
		return true
	}
	return false
}

// withZero writes etc/faed.full.toml with the key at path set to 0 to a
// temporary file and returns its name.
func withZero(t *testing.T, path []string) string {
	t.Helper()
	var raw map[string]any
	if _, err := toml.DecodeFile(fullConfig, &raw); err != nil {
		t.Fatal(err)
	}
	table := raw
	for _, k := range path[:len(path)-1] {
		next, ok := table[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			table[k] = next
		}
		table = next
	}
	var zero any = int64(0)
	if typ := lookup(reflect.ValueOf(fullExample(t)), path).Type(); typ == reflect.TypeFor[time.Duration]() {
		zero = "0s"
	} else if typ.Kind() == reflect.Float64 {
		zero = 0.0
	}
	table[path[len(path)-1]] = zero
	name := filepath.Join(t.TempDir(), "zero.toml")
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := toml.NewEncoder(f).Encode(raw); err != nil {
		t.Fatal(err)
	}
	return name
}

// fullExample is etc/faed.full.toml decoded, which holds every named pool
// the paths go through.
func fullExample(t *testing.T) Config {
	t.Helper()
	var cfg Config
	if _, err := toml.DecodeFile(fullConfig, &cfg); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// lookup follows path from v through sections and named pools.
func lookup(v reflect.Value, path []string) reflect.Value {
	for _, k := range path {
		switch v.Kind() {
		case reflect.Map:
			v = v.MapIndex(reflect.ValueOf(k))
		default:
			forEachKey(v.Type(), nil, func(_ reflect.StructField, i int, p []string) {
				if p[0] == k {
					v = v.Field(i)
				}
			})
		}
	}
	if v.Kind() == reflect.Pointer && !v.IsNil() {
		return v.Elem()
	}
	return v
}

// poolKey writes a path through a named pool with NAME for the pool, as
// the README lists it: servant.mysql.pools.NAME.port.
func poolKey(path []string) string {
	p := slices.Clone(path)
	for i := range p[:len(p)-1] {
		if i > 0 && p[i-1] == "pools" {
			p[i] = "NAME"
		}
	}
	return strings.Join(p, ".")
}

// readmeRefused reads the README's list of keys where 0 is refused: the
// lines "- `section.key`" between its "<!-- zero refused -->" markers.
func readmeRefused(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, list, ok := strings.Cut(string(b), "<!-- zero refused -->")
	list, _, ok2 := strings.Cut(list, "<!-- /zero refused -->")
	if !ok || !ok2 {
		t.Fatal("README.md has no <!-- zero refused --> … <!-- /zero refused --> list")
	}
	var keys []string
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z_.A-Z]+)`").FindAllStringSubmatch(list, -1) {
		keys = append(keys, m[1])
	}
	return keys
}
