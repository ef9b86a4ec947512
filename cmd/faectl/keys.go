package main

import "strings"

// splitKeys splits a -keys value at commas, dropping empty keys. Spaces
// belong to a key: a key may be " a".
func splitKeys(s string) []string {
	var keys []string
	for k := range strings.SplitSeq(s, ",") {
		if k != "" {
			keys = append(keys, k)
		}
	}
	return keys
}
