package engine

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// argsText prints a call's arguments for a log line in at most limit bytes
// (then "…"), field by field, without ever formatting more than it shows: a
// call may carry megabytes (my_bulk_exec, mg_inserts), and Thrift's String()
// would print them all before anything could be cut.
func argsText(args any, limit int) string {
	w := &boundedText{limit: limit}
	w.value(reflect.ValueOf(args), 0)
	if w.cut {
		w.b.WriteString("…")
	}
	return w.b.String()
}

// maxArgsDepth bounds how deep argsText goes into nested values.
const maxArgsDepth = 4

type boundedText struct {
	b     strings.Builder
	limit int
	cut   bool // the limit was reached: nothing more is written
}

func (w *boundedText) write(s string) {
	if w.cut {
		return
	}
	if room := w.limit - w.b.Len(); len(s) > room {
		s, w.cut = s[:max(room, 0)], true
	}
	w.b.WriteString(s)
}

// value writes v as Go's %v would, roughly: structs as {Name:value …},
// lists as [a b …] with their length when cut, bytes and strings quoted.
func (w *boundedText) value(v reflect.Value, depth int) {
	if w.cut {
		return
	}
	switch v.Kind() {
	case reflect.Invalid:
		w.write("<nil>")
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			w.write("<nil>")
			return
		}
		w.value(v.Elem(), depth)
	case reflect.Struct:
		w.structFields(v, depth)
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Uint8 {
			b := v.Bytes()
			w.quoted(string(b[:min(len(b), w.limit)]), len(b)) // converts no more than it may show
			return
		}
		w.list(v, depth)
	case reflect.Map:
		w.write(fmt.Sprintf("map[%d entries]", v.Len()))
	case reflect.String:
		w.quoted(v.String(), v.Len())
	default:
		w.write(fmt.Sprint(v.Interface()))
	}
}

func (w *boundedText) structFields(v reflect.Value, depth int) {
	if depth >= maxArgsDepth {
		w.write("{…}")
		return
	}
	w.write("{")
	t := v.Type()
	for i := range t.NumField() {
		if !t.Field(i).IsExported() {
			continue
		}
		if i > 0 {
			w.write(" ")
		}
		w.write(t.Field(i).Name + ":")
		w.value(v.Field(i), depth+1)
	}
	w.write("}")
}

func (w *boundedText) list(v reflect.Value, depth int) {
	w.write("[")
	for i := 0; i < v.Len() && !w.cut; i++ {
		if i > 0 {
			w.write(" ")
		}
		if w.b.Len() >= w.limit-16 && i < v.Len()-1 {
			w.write("… " + strconv.Itoa(v.Len()) + " items")
			break
		}
		w.value(v.Index(i), depth+1)
	}
	w.write("]")
}

// quoted writes s, the start of a value of size bytes, as a Go string
// literal cut to what fits, with the number of bytes left out.
func (w *boundedText) quoted(s string, size int) {
	const suffix = 24 // room for the quotes and "+N bytes"
	part := s[:min(len(s), max(w.limit-w.b.Len()-suffix, 0))]
	if len(part) == size {
		w.write(strconv.Quote(part))
		return
	}
	w.write(strconv.Quote(part) + "+" + strconv.Itoa(size-len(part)) + " bytes")
	w.cut = true
}
