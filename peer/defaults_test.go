package peer

import (
	"reflect"
	"time"
)

// withTestDefaults fills the zero fields of a test's Config literal, nested
// sections included, with DefaultConfig's, so a test names only what it is
// about. Only tests do this: a zero number in a real config means "off" or
// is refused (see Config).
func withTestDefaults(c Config) Config {
	fillZeros(reflect.ValueOf(&c).Elem(), reflect.ValueOf(DefaultConfig()))
	return c
}

func fillZeros(v, def reflect.Value) {
	for i := range v.NumField() {
		f := v.Field(i)
		switch {
		case f.Kind() == reflect.Struct && f.Type() != reflect.TypeFor[time.Time]():
			fillZeros(f, def.Field(i))
		case f.IsZero():
			f.Set(def.Field(i))
		}
	}
}
