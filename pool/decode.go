package pool

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
)

// DecodeTable decodes a TOML table, as a toml.Unmarshaler's UnmarshalTOML
// receives it, into v, which holds the defaults already: an absent key
// keeps its default, an explicit 0 is 0. It is how a named section in a map
// (such as [servant.mysql.pools.NAME]), which the TOML decoder would
// otherwise start from zero, starts from its defaults. A key v has no field
// for is an error naming it. v must not itself implement toml.Unmarshaler
// (decode into a plain copy of the type).
func DecodeTable(data any, v any) error {
	table, ok := data.(map[string]any)
	if !ok {
		return fmt.Errorf("want a table, got %T", data)
	}
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(table); err != nil {
		return err
	}
	md, err := toml.Decode(buf.String(), v)
	if err != nil {
		return err
	}
	if undecoded := md.Undecoded(); len(undecoded) > 0 {
		keys := make([]string, len(undecoded))
		for i, k := range undecoded {
			keys[i] = k.String()
		}
		slices.Sort(keys)
		return fmt.Errorf("unknown key %s", strings.Join(keys, ", "))
	}
	return nil
}
