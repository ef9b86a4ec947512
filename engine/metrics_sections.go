package engine

import (
	"bufio"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"unicode"
)

// The stats sections (servant, cluster) reach /metrics by walking their Go
// values: struct fields extend a metric's name, and the entries of a map or
// a list of named items become a label, so a pool's, a server's or a peer's
// name is a label value and never part of a metric name:
//
//	faed_servant_memcache_servers_calls{pool="default",server="127.0.0.1:11211"} 7
//
// Numbers and booleans are values; breaker states, the one string operators
// alert on, become 0 closed, 1 half-open, 2 open; other strings are left out.
// Every metric is a gauge (a section does not say which of its numbers only
// grow), and its HELP names the /stats path it comes from.

// labelNames names the label of a map or list by the key that holds it; any
// other key gives its singular ("servers" → "server").
var labelNames = map[string]string{
	"memcache": "pool", "mongodb": "pool", "pools": "pool", "per_call": "call", "counts": "node", "per_reason": "reason", "switches": "switch",
}

// itemKeys are the fields that name a list item, in order of preference.
var itemKeys = []string{"name", "server", "addr", "node", "peer"}

var breakerStates = map[string]float64{"closed": 0, "half-open": 1, "open": 2}

// series is one sample of a family.
type series struct {
	labels []label
	value  float64
}

type label struct{ name, value string }

// family is one metric: its name, the /stats path it comes from, and its
// samples in the order found.
type family struct {
	name, path string
	samples    []series
}

// sectionWalker collects the families of one section.
type sectionWalker struct {
	families map[string]*family
}

func writeSectionMetrics(w *bufio.Writer, section string, v any) {
	sw := sectionWalker{families: map[string]*family{}}
	sw.walk(reflect.ValueOf(v), "faed_"+metricName(section), section, nil, "")
	names := make([]string, 0, len(sw.families))
	for name := range sw.families {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		f := sw.families[name]
		fmt.Fprintf(w, "# HELP %s From /stats: %s.\n# TYPE %s gauge\n", name, f.path, name)
		for _, s := range f.samples {
			w.WriteString(name)
			writeLabels(w, s.labels)
			fmt.Fprintf(w, " %g\n", s.value)
		}
	}
}

func writeLabels(w *bufio.Writer, labels []label) {
	if len(labels) == 0 {
		return
	}
	w.WriteByte('{')
	for i, l := range labels {
		if i > 0 {
			w.WriteByte(',')
		}
		fmt.Fprintf(w, "%s=\"%s\"", l.name, labelEscaper.Replace(l.value))
	}
	w.WriteByte('}')
}

// walk visits v, found at /stats path under the metric name prefix with
// labels so far; key is the JSON key that holds v ("" for a list item),
// which names the label of a map or list.
func (sw *sectionWalker) walk(v reflect.Value, name, path string, labels []label, key string) {
	for v.Kind() == reflect.Interface || v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return
		}
		v = v.Elem()
	}
	switch v.Kind() {
	case reflect.Bool:
		sw.add(name, path, labels, map[bool]float64{false: 0, true: 1}[v.Bool()])
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		sw.add(name, path, labels, float64(v.Int()))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		sw.add(name, path, labels, float64(v.Uint()))
	case reflect.Float32, reflect.Float64:
		sw.add(name, path, labels, v.Float())
	case reflect.String:
		if n, ok := breakerStates[v.String()]; ok {
			sw.add(name, path, labels, n)
		}
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if k := jsonKey(f); k != "" {
				sw.walk(v.Field(i), name+"_"+metricName(k), path+"."+k, labels, k)
			}
		}
	case reflect.Map:
		sw.walkMap(v, name, path, labels, key)
	case reflect.Slice, reflect.Array:
		sw.walkList(v, name, path, labels, key)
	}
}

// walkMap: a map of one concrete value type holds like things (pools,
// calls), each a label value; a map of interfaces is a record whose keys
// extend the name, as a struct's fields do.
func (sw *sectionWalker) walkMap(v reflect.Value, name, path string, labels []label, key string) {
	if v.Type().Key().Kind() != reflect.String {
		return
	}
	keys := v.MapKeys()
	slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(a.String(), b.String()) })
	if v.Type().Elem().Kind() == reflect.Interface {
		for _, k := range keys {
			key := snake(k.String())
			sw.walk(v.MapIndex(k), name+"_"+metricName(key), path+"."+key, labels, key)
		}
		return
	}
	l := labelName(key)
	for _, k := range keys {
		sw.walk(v.MapIndex(k), name, path+"["+l+"]", withLabel(labels, l, k.String()), "")
	}
}

// walkList: a list of named items (a "name", "server", … field) labels each
// by that name; any other list by its index.
func (sw *sectionWalker) walkList(v reflect.Value, name, path string, labels []label, key string) {
	l := labelName(key)
	for i := range v.Len() {
		item := v.Index(i)
		id, ok := itemName(item)
		if !ok {
			id = fmt.Sprint(i)
		}
		sw.walk(item, name, path+"["+l+"]", withLabel(labels, l, id), "")
	}
}

func (sw *sectionWalker) add(name, path string, labels []label, value float64) {
	f := sw.families[name]
	if f == nil {
		f = &family{name: name, path: path}
		sw.families[name] = f
	}
	f.samples = append(f.samples, series{labels: labels, value: value})
}

// labelEscaper escapes a label value as the text format wants: backslash,
// double quote and newline, nothing else (Go's %q would add \x and \u
// escapes the format does not know).
var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

// withLabel is labels and one more, in a slice of its own: siblings must not
// share the backing array. A name already used further up gets a suffix:
// the format forbids a label twice in one series.
func withLabel(labels []label, name, value string) []label {
	for slices.ContainsFunc(labels, func(l label) bool { return l.name == name }) {
		name += "_inner"
	}
	return append(slices.Clip(labels), label{name, value})
}

// labelName names the label for the entries held under key.
func labelName(key string) string {
	if l, ok := labelNames[key]; ok {
		return l
	}
	if key == "" {
		return "index"
	}
	return metricName(strings.TrimSuffix(key, "s"))
}

// itemName is a list item's identifying string field, if it has one.
func itemName(item reflect.Value) (string, bool) {
	for item.Kind() == reflect.Interface || item.Kind() == reflect.Pointer {
		if item.IsNil() {
			return "", false
		}
		item = item.Elem()
	}
	if item.Kind() != reflect.Struct {
		return "", false
	}
	t := item.Type()
	for _, want := range itemKeys {
		for i := range t.NumField() {
			if f := t.Field(i); jsonKey(f) == want && f.Type.Kind() == reflect.String && item.Field(i).String() != "" {
				return item.Field(i).String(), true
			}
		}
	}
	return "", false
}

// jsonKey is the key encoding/json gives an exported field ("" for none):
// its tag's name, or its Go name in snake case.
func jsonKey(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	switch tag {
	case "-":
		return ""
	case "":
		return snake(f.Name)
	}
	return tag
}

// snake turns a Go name into snake case: BreakerState → breaker_state.
func snake(s string) string {
	var b strings.Builder
	runes := []rune(s)
	for i, r := range runes {
		if unicode.IsUpper(r) {
			if i > 0 && (unicode.IsLower(runes[i-1]) || i+1 < len(runes) && unicode.IsLower(runes[i+1])) {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

// metricName keeps [a-zA-Z0-9_] and folds everything else to '_'.
func metricName(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, s)
}
