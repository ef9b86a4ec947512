package mysql

import (
	"errors"
	"fmt"
	"strings"
)

// maxIdent is MySQL's limit on a table or column name, in characters; plain
// identifiers are ASCII, so in bytes too.
const maxIdent = 64

// checkIdent accepts a plain identifier: an ASCII letter or underscore, then
// letters, digits, underscores or dollar signs, at most 64 in all. Table and
// column names cannot be bound as parameters, so Merge splices them into SQL
// only after this check (and quoted with backticks, so that a plain name
// that is a reserved word still works).
func checkIdent(s string) error {
	switch {
	case s == "":
		return errors.New("empty identifier")
	case len(s) > maxIdent:
		return fmt.Errorf("identifier longer than %d characters: %.20q…", maxIdent, s)
	case !isIdentStart(s[0]):
		return fmt.Errorf("identifier must start with a letter or underscore: %q", s)
	}
	for i := 1; i < len(s); i++ {
		if !isWordByte(s[i]) {
			return fmt.Errorf("identifier may hold only letters, digits, _ and $: %q", s)
		}
	}
	return nil
}

// checkTable accepts a plain identifier or two joined by a dot (db.table).
func checkTable(s string) error {
	db, table, dotted := strings.Cut(s, ".")
	if !dotted {
		return checkIdent(s)
	}
	if err := checkIdent(db); err != nil {
		return err
	}
	return checkIdent(table)
}

// quoteTable quotes a name checkTable accepted: `db`.`table` or `table`.
func quoteTable(s string) string {
	return "`" + strings.Replace(s, ".", "`.`", 1) + "`"
}

func isIdentStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
}
