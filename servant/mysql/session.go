package mysql

import (
	"errors"
	"fmt"
	"strings"
)

// ErrSessionStatement is wrapped, with what was found, when a statement
// would leave state on the pooled connection it runs on (see checkSession).
// Such a statement is refused before it reaches the server, so it never
// counts against the breaker.
var ErrSessionStatement = errors.New("mysql: statement changes the pooled connection's session")

// Every caller shares a pool's connections, so a statement may not leave
// anything behind on its connection that the next statement there would
// see: a charset, autocommit, a variable, a transaction, a table or named
// lock, a temporary table. checkSession lets through only statements whose
// first keyword is on an allow-list, and refuses, anywhere outside string
// literals, quoted identifiers and comments, what those statements can
// still carry: executable comments, user-variable assignment, named locks
// and INTO @var, OUTFILE or DUMPFILE. Stored programs are not checked: a
// procedure cannot be called (CALL is refused) nor created, and a stored
// function the operator created is trusted.
//
// Multi-statements are off in the driver (see driverConfig), so one call is
// one statement and a ';' cannot start a second.

// allowedFirst lists the first keywords checkSession lets through. Each
// maps to the second words it allows, nil meaning any.
var allowedFirst = []struct {
	first  string
	second []string
}{
	{"SELECT", nil}, {"INSERT", nil}, {"UPDATE", nil}, {"DELETE", nil}, {"REPLACE", nil},
	{"SHOW", nil}, {"DESCRIBE", nil}, {"DESC", nil}, {"EXPLAIN", nil}, {"WITH", nil},
	{"TRUNCATE", nil},
	// DDL on persistent tables only: CREATE TEMPORARY TABLE, stored
	// programs, users and the like are left out.
	{"CREATE", []string{"TABLE", "INDEX", "UNIQUE", "FULLTEXT", "SPATIAL"}},
	{"ALTER", []string{"TABLE", "ONLINE", "IGNORE"}},
	{"DROP", []string{"TABLE", "INDEX"}},
	{"RENAME", []string{"TABLE"}},
}

// allowedList is allowedFirst's keywords, for the error message.
var allowedList = func() string {
	var words []string
	for _, a := range allowedFirst {
		words = append(words, a.first)
	}
	return strings.Join(words, ", ")
}()

// checkSession returns an error wrapping ErrSessionStatement if sql could
// leave session state behind, saying what it found. multibyte says the
// connection's charset has multi-byte characters whose later bytes may be
// ASCII (big5, cp932, gbk, gb18030, sjis): the text is then also scanned the
// way such a server reads it, so a byte it swallows into a character cannot
// hide a quote from the scan.
func checkSession(sql string, multibyte bool) error {
	if err := checkKeywords(sql); err != nil {
		return err
	}
	what := sessionEffect(sql, false)
	if what == "" && multibyte {
		what = sessionEffect(sql, true)
	}
	if what != "" {
		return fmt.Errorf("%w: %s", ErrSessionStatement, what)
	}
	return nil
}

// checkKeywords checks the first keyword, and the second where it matters,
// against allowedFirst.
func checkKeywords(sql string) error {
	first, rest := nextWord(sql)
	for _, a := range allowedFirst {
		if !strings.EqualFold(first, a.first) {
			continue
		}
		if a.second == nil {
			return nil
		}
		second, rest := nextWord(rest)
		if strings.EqualFold(first, "CREATE") && strings.EqualFold(second, "OR") {
			_, rest = nextWord(rest) // REPLACE, then TABLE or TEMPORARY
			second, _ = nextWord(rest)
		}
		for _, s := range a.second {
			if strings.EqualFold(second, s) {
				return nil
			}
		}
		return fmt.Errorf("%w: %s %s is not allowed", ErrSessionStatement,
			strings.ToUpper(first), strings.ToUpper(second))
	}
	switch {
	case isExecutableComment(skipPrelude(sql)):
		return fmt.Errorf("%w: an executable comment (/*! … */) opens the statement", ErrSessionStatement)
	case first == "":
		return fmt.Errorf("%w: no statement keyword found; allowed: %s", ErrSessionStatement, allowedList)
	}
	return fmt.Errorf("%w: %s is not allowed (allowed: %s)", ErrSessionStatement,
		strings.ToUpper(first), allowedList)
}

// sessionEffect scans sql outside string literals, quoted identifiers and
// comments, and names the first thing found that leaves session state, or
// returns "". With multibyte, every byte from 0x80 up takes the next byte
// with it, as a big5 or gbk server reads it.
func sessionEffect(sql string, multibyte bool) string {
	afterInto := false // the last token was INTO
	for i := 0; i < len(sql); {
		c := sql[i]
		switch {
		case multibyte && c >= 0x80:
			i += 2
			afterInto = false
			continue
		case c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v':
			i++
			continue
		case c == '/' && strings.HasPrefix(sql[i:], "/*"):
			if isExecutableComment(sql[i:]) {
				return "an executable comment (/*! … */)"
			}
			end := strings.Index(sql[i+2:], "*/")
			if end < 0 {
				return ""
			}
			i += 2 + end + 2
			continue // a comment is whitespace: INTO /* x */ @v stays INTO @v
		case c == '#' || isDashComment(sql[i:]):
			nl := strings.IndexByte(sql[i:], '\n')
			if nl < 0 {
				return ""
			}
			i += nl + 1
			continue
		case c == '\'' || c == '"' || c == '`':
			i = skipQuoted(sql, i, multibyte)
		case c == ':' && strings.HasPrefix(sql[i:], ":="):
			return "a user variable assignment (:=)"
		case c == '@':
			if afterInto {
				return "SELECT … INTO @variable"
			}
			i++
		case isWordByte(c):
			end := i
			for end < len(sql) && isWordByte(sql[end]) {
				end++
			}
			word := sql[i:end]
			if what := wordEffect(word, afterInto); what != "" {
				return what
			}
			afterInto = strings.EqualFold(word, "INTO")
			i = end
			continue
		default:
			i++
		}
		afterInto = false
	}
	return ""
}

// wordEffect names the session state word leaves, or returns "".
func wordEffect(word string, afterInto bool) string {
	for _, lock := range []string{"GET_LOCK", "RELEASE_LOCK", "RELEASE_ALL_LOCKS"} {
		if strings.EqualFold(word, lock) {
			return "the named lock function " + lock
		}
	}
	if afterInto && (strings.EqualFold(word, "OUTFILE") || strings.EqualFold(word, "DUMPFILE")) {
		return "SELECT … INTO " + strings.ToUpper(word)
	}
	return ""
}

// skipQuoted returns the index just past the string literal or quoted
// identifier opening at sql[i], or len(sql) if it does not end. In '…' and
// "…" a backslash escapes the next byte (sql_mode NO_BACKSLASH_ESCAPES is
// refused by Validate); in `…` it does not. A doubled quote reads as the
// end of one quoted run and the start of the next, which is the same.
func skipQuoted(sql string, i int, multibyte bool) int {
	quote := sql[i]
	for i++; i < len(sql); i++ {
		switch c := sql[i]; {
		case multibyte && c >= 0x80:
			i++
		case c == '\\' && quote != '`':
			i++
		case c == quote:
			return i + 1
		}
	}
	return len(sql)
}

// hasASCIITrailBytes reports whether charset has multi-byte characters
// whose later bytes may be ASCII, a backslash or a quote among them.
func hasASCIITrailBytes(charset string) bool {
	switch strings.ToLower(charset) {
	case "big5", "cp932", "gbk", "gb18030", "sjis":
		return true
	}
	return false
}
