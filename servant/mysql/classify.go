package mysql

import "strings"

// IsRead reports whether the statement sql is a read: whether its first
// keyword, after leading whitespace, comments (/* … */, # … and -- …) and
// opening parentheses, is SELECT, SHOW, DESCRIBE, DESC or EXPLAIN, in any
// case. Everything else is a write, WITH included (MySQL allows WITH …
// UPDATE), and so is a statement opening with an executable comment
// (/*! … */, /*M! … */), which MySQL runs as code. Misreading a read as a
// write costs a cache fill; the reverse would let a write past a shard lock,
// so doubt always means write. IsRead does not allocate.
func IsRead(sql string) bool {
	w := firstKeyword(sql)
	return strings.EqualFold(w, "SELECT") || strings.EqualFold(w, "SHOW") ||
		strings.EqualFold(w, "DESCRIBE") || strings.EqualFold(w, "DESC") ||
		strings.EqualFold(w, "EXPLAIN")
}

// firstKeyword returns the first word of sql after its prelude, or "". IsRead
// and checkSession both find the statement's keyword with it.
func firstKeyword(sql string) string {
	w, _ := nextWord(sql)
	return w
}

// nextWord returns the first word of s after its prelude (see skipPrelude),
// or "" if something else comes first, and the text after that word.
func nextWord(s string) (word, rest string) {
	s = skipPrelude(s)
	end := 0
	for end < len(s) && isWordByte(s[end]) {
		end++
	}
	return s[:end], s[end:]
}

// skipPrelude drops leading whitespace, comments and opening parentheses.
// It stops at an executable comment, which is code to MySQL.
func skipPrelude(s string) string {
	for {
		s = strings.TrimLeft(s, " \t\r\n\f\v(")
		switch {
		case isExecutableComment(s):
			return s
		case strings.HasPrefix(s, "/*"):
			end := strings.Index(s[2:], "*/")
			if end < 0 {
				return ""
			}
			s = s[2+end+2:]
		case strings.HasPrefix(s, "#"), isDashComment(s):
			nl := strings.IndexByte(s, '\n')
			if nl < 0 {
				return ""
			}
			s = s[nl+1:]
		default:
			return s
		}
	}
}

// isExecutableComment reports whether s opens a comment MySQL (/*! … */)
// or MariaDB (/*M! … */) runs as code.
func isExecutableComment(s string) bool {
	return strings.HasPrefix(s, "/*!") || strings.HasPrefix(s, "/*M!")
}

// isDashComment reports whether s opens a "-- " comment: MySQL wants a
// space or control character after the two dashes ("--1" is an expression).
func isDashComment(s string) bool {
	return strings.HasPrefix(s, "--") && (len(s) == 2 || s[2] <= ' ')
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '$'
}
