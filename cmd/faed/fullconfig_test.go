package main

import (
	"encoding"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

const fullConfig = "../../etc/faed.full.toml"

// notListed are keys Config decodes that etc/faed.full.toml leaves out on
// purpose, with why.
var notListed = map[string]string{
	"engine.io_timeout":     "refused with an error naming its three replacements",
	"cluster.virtual_nodes": "accepted and ignored since the vbucket map replaced the ring",
}

// TestFullConfigListsEveryKey keeps etc/faed.full.toml true: every key of
// every section of Config is in it, and every key outside the named pools
// holds its default. Named pools (a map of sections, such as
// [servant.mysql.pools.NAME]) are examples: each of their keys must be set
// in one of them at least (some keys are alternatives, like uri and
// servers), and their values are not defaults.
func TestFullConfigListsEveryKey(t *testing.T) {
	var cfg Config
	md, err := toml.DecodeFile(fullConfig, &cfg)
	if err != nil {
		t.Fatal(err)
	}
	var check func(v, def reflect.Value, path []string)
	check = func(v, def reflect.Value, path []string) {
		forEachKey(v.Type(), path, func(f reflect.StructField, i int, p []string) {
			key := strings.Join(p, ".")
			got, want := v.Field(i), def.Field(i)
			switch {
			case notListed[key] != "":
			case isSection(f.Type):
				check(got, want, p)
			case isPools(f.Type):
				checkPools(t, md, got, p)
			case !md.IsDefined(p...):
				t.Errorf("%s lacks %s", fullConfig, key)
			case !sameValue(got, want):
				t.Errorf("%s: %s = %v; the default is %v", fullConfig, key, got.Interface(), want.Interface())
			}
		})
	}
	check(reflect.ValueOf(cfg), reflect.ValueOf(defaultConfig()), nil)
}

// checkPools checks that the pools at path set, between them, every key of
// a pool section.
func checkPools(t *testing.T, md toml.MetaData, pools reflect.Value, path []string) {
	t.Helper()
	var keys []string
	var collect func(typ reflect.Type, rel []string)
	collect = func(typ reflect.Type, rel []string) {
		forEachKey(typ, rel, func(f reflect.StructField, _ int, p []string) {
			if isSection(f.Type) {
				collect(f.Type, p)
			} else {
				keys = append(keys, strings.Join(p, "."))
			}
		})
	}
	collect(pools.Type().Elem(), nil)
	for _, key := range keys {
		set := slices.ContainsFunc(pools.MapKeys(), func(name reflect.Value) bool {
			return md.IsDefined(append(append(slices.Clone(path), name.String()), strings.Split(key, ".")...)...)
		})
		if !set {
			t.Errorf("%s: no [%s.NAME] example sets %s", fullConfig, strings.Join(path, "."), key)
		}
	}
}

// forEachKey calls fn for every field of struct type typ that TOML decodes,
// with its index and its path under path.
func forEachKey(typ reflect.Type, path []string, fn func(f reflect.StructField, i int, p []string)) {
	for i := range typ.NumField() {
		f := typ.Field(i)
		if name, _, _ := strings.Cut(f.Tag.Get("toml"), ","); name != "" && name != "-" {
			fn(f, i, append(slices.Clone(path), name))
		}
	}
}

// isSection: a struct TOML decodes key by key (not one read from text).
func isSection(t reflect.Type) bool {
	return t.Kind() == reflect.Struct && !reflect.PointerTo(t).Implements(reflect.TypeFor[encoding.TextUnmarshaler]())
}

// isPools: a map of named sections.
func isPools(t reflect.Type) bool { return t.Kind() == reflect.Map && isSection(t.Elem()) }

// sameValue compares a decoded value with its default; an empty list is
// the same whether nil or not.
func sameValue(got, want reflect.Value) bool {
	if got.Kind() == reflect.Slice && got.Len() == 0 && want.Len() == 0 {
		return true
	}
	return reflect.DeepEqual(got.Interface(), want.Interface())
}
