package mysql

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckSession(t *testing.T) {
	tests := []struct {
		name string
		sql  string
		want string // "" allowed, else a part of the error
	}{
		{"select", "SELECT * FROM t WHERE name = ?", ""},
		{"insert", "insert into t (a) values (?)", ""},
		{"update with set", "UPDATE t SET a = 1 WHERE id = ?", ""},
		{"insert set", "INSERT INTO t SET a = 'x'", ""},
		{"delete", "DELETE FROM t", ""},
		{"replace", "Replace Into t VALUES (1)", ""},
		{"show", "SHOW TABLES", ""},
		{"desc", "desc t", ""},
		{"explain", "EXPLAIN SELECT 1", ""},
		{"with", "WITH x AS (SELECT 1) SELECT * FROM x", ""},
		{"create table", "CREATE TABLE t (a INT)", ""},
		{"create or replace table", "CREATE OR REPLACE TABLE t (a INT)", ""},
		{"create unique index", "create unique index i on t (a)", ""},
		{"alter table", "ALTER TABLE t ADD b INT", ""},
		{"drop table", "DROP TABLE IF EXISTS t", ""},
		{"truncate", "TRUNCATE t", ""},
		{"rename table", "RENAME TABLE a TO b", ""},
		{"set inside a string", "SELECT * FROM t WHERE note = 'SET NAMES gbk'", ""},
		{"set inside double quotes", `SELECT "; SET autocommit=0"`, ""},
		{"escaped quote in a string", `SELECT 'it\'s := @x GET_LOCK(' FROM t`, ""},
		{"doubled quote in a string", "SELECT 'it''s := 1'", ""},
		{"lock word in backticks", "SELECT `get_lock` FROM t", ""},
		{"executable comment in a string", "SELECT '/*!40101 x */'", ""},
		{"into in a comment", "SELECT a /* INTO @x */ FROM t", ""},
		{"reading a user variable", "SELECT @x", ""},
		{"reading a system variable", "SELECT @@session.autocommit", ""},
		{"leading comments", "/* route */ -- x\n# y\n select 1", ""},
		{"for update", "SELECT * FROM t WHERE id = 1 FOR UPDATE", ""},
		{"insert select", "INSERT INTO t SELECT * FROM u", ""},

		{"set names", "SET NAMES gbk", "SET is not allowed"},
		{"lower case set", "set autocommit=0", "SET is not allowed"},
		{"mixed case set", "sEt @@session.sql_mode = ''", "SET is not allowed"},
		{"set after block comment", "/* x */ SET NAMES gbk", "SET is not allowed"},
		{"set after dash comment", "-- x\nSET autocommit = 0", "SET is not allowed"},
		{"set after hash comment", "# x\nset names gbk", "SET is not allowed"},
		{"set after whitespace", " \t\r\n\f\vSET NAMES gbk", "SET is not allowed"},
		{"set statement for", "SET STATEMENT max_statement_time=1 FOR SELECT 1", "SET is not allowed"},
		{"use", "USE mysql", "USE is not allowed"},
		{"begin", "BEGIN", "BEGIN is not allowed"},
		{"start transaction", "START TRANSACTION", "START is not allowed"},
		{"commit", "COMMIT", "COMMIT is not allowed"},
		{"rollback", "rollback", "ROLLBACK is not allowed"},
		{"savepoint", "SAVEPOINT a", "SAVEPOINT is not allowed"},
		{"lock tables", "LOCK TABLES t WRITE", "LOCK is not allowed"},
		{"unlock tables", "UNLOCK TABLES", "UNLOCK is not allowed"},
		{"xa", "XA START 'x'", "XA is not allowed"},
		{"prepare", "PREPARE s FROM 'SELECT 1'", "PREPARE is not allowed"},
		{"handler", "HANDLER t OPEN", "HANDLER is not allowed"},
		{"call", "CALL p()", "CALL is not allowed"},
		{"do", "DO GET_LOCK('a', 1)", "DO is not allowed"},
		{"load data", "LOAD DATA INFILE '/etc/passwd' INTO TABLE t", "LOAD is not allowed"},
		{"empty", "", "no statement keyword"},
		{"only a comment", "/* SELECT 1 */", "no statement keyword"},
		{"unterminated comment", "/* SELECT 1", "no statement keyword"},
		{"create temporary table", "CREATE TEMPORARY TABLE t (a INT)", "CREATE TEMPORARY is not allowed"},
		{"create or replace temporary", "create or replace temporary table t (a int)", "CREATE TEMPORARY is not allowed"},
		{"create procedure", "CREATE PROCEDURE p() SET autocommit = 0", "CREATE PROCEDURE is not allowed"},
		{"create function", "CREATE FUNCTION f() RETURNS INT RETURN 1", "CREATE FUNCTION is not allowed"},
		{"drop temporary", "DROP TEMPORARY TABLE t", "DROP TEMPORARY is not allowed"},
		{"executable comment first", "/*!40101 SET NAMES gbk */", "executable comment"},
		{"mariadb executable comment first", "/*M!100000 SET autocommit=0 */", "executable comment"},
		{"executable comment inside", "SELECT 1 /*!, GET_LOCK('a', 1) */", "executable comment"},
		{"mariadb executable comment inside", "SELECT 1 /*M!100100 INTO @x */", "executable comment"},
		{"user variable assignment", "SELECT @x := 1", ":="},
		{"assignment without spaces", "UPDATE t SET a = (@n:=@n+1)", ":="},
		{"into user variable", "SELECT a INTO @x FROM t", "INTO @variable"},
		{"into user variable lower case", "select a into @x from t", "INTO @variable"},
		{"into with a comment", "SELECT a INTO /* c */ @x FROM t", "INTO @variable"},
		{"into outfile", "SELECT * FROM t INTO OUTFILE '/tmp/x'", "INTO OUTFILE"},
		{"into dumpfile", "select * from t into dumpfile '/tmp/x'", "INTO DUMPFILE"},
		{"get_lock", "SELECT GET_LOCK('a', 10)", "GET_LOCK"},
		{"get_lock lower case with space", "select get_lock ('a', 10)", "GET_LOCK"},
		{"release_lock", "SELECT Release_Lock('a')", "RELEASE_LOCK"},
		{"release_all_locks", "SELECT RELEASE_ALL_LOCKS()", "RELEASE_ALL_LOCKS"},
		{"lock after a string", "SELECT 'a', GET_LOCK('b', 1)", "GET_LOCK"},
		{"lock after a backtick", "SELECT `a`, GET_LOCK('b', 1)", "GET_LOCK"},
		{"lock after a doubled quote", "SELECT 'x''', GET_LOCK('b', 1)", "GET_LOCK"},
		{"lock in a where", "DELETE FROM t WHERE GET_LOCK('x', 0)", "GET_LOCK"},
		{"lock after a dash comment", "SELECT 1 -- x\n, GET_LOCK('a', 1)", "GET_LOCK"},
		{"minus minus is no comment", "SELECT 1--1, GET_LOCK('a', 1)", "GET_LOCK"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkSession(tt.sql, false)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("checkSession(%q) = %v, want allowed", tt.sql, err)
			case tt.want != "" && !errors.Is(err, ErrSessionStatement):
				t.Errorf("checkSession(%q) = %v, want ErrSessionStatement", tt.sql, err)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Errorf("checkSession(%q) = %q, want it to say %q", tt.sql, err, tt.want)
			}
		})
	}
}

// TestCheckSessionMultibyte: in gbk, 0xbf 0x5c is one character, so the
// backslash escapes nothing and the quote after it ends the string. A scan
// that took the backslash as an escape would miss the GET_LOCK.
func TestCheckSessionMultibyte(t *testing.T) {
	hidden := "SELECT '\xbf\\', GET_LOCK('a', 1) -- '"
	if err := checkSession(hidden, false); err != nil {
		t.Fatalf("single-byte scan refused it: %v (the test no longer shows the difference)", err)
	}
	if err := checkSession(hidden, true); !errors.Is(err, ErrSessionStatement) || !strings.Contains(err.Error(), "GET_LOCK") {
		t.Errorf("multibyte scan: %v, want GET_LOCK refused", err)
	}
	backtick := "SELECT `\xbf`, RELEASE_LOCK('a') -- `"
	if err := checkSession(backtick, true); !errors.Is(err, ErrSessionStatement) {
		t.Errorf("multibyte scan of a gbk trail byte 0x60: %v, want refused", err)
	}
	// A utf8 caller's text still passes the stricter scan.
	if err := checkSession("SELECT 'é 😀' FROM t WHERE a = 'ü'", true); err != nil {
		t.Errorf("utf8 text under the multibyte scan: %v", err)
	}
}

// TestFirstKeywordShared: IsRead and checkSession find the same keyword, so a
// statement the check lets through is classified by the word it checked.
func TestFirstKeywordShared(t *testing.T) {
	for _, sql := range []string{"/* x */ SELECT 1", "-- x\nupdate t set a=1", "# c\n(select 1)", "/*!1 SELECT */"} {
		if err := checkKeywords(sql); err == nil && IsRead(sql) != strings.EqualFold(firstKeyword(sql), "SELECT") {
			t.Errorf("%q: IsRead %v, first keyword %q", sql, IsRead(sql), firstKeyword(sql))
		}
	}
}

func BenchmarkCheckSession(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = checkSession("  /* route */ select id, name from user where id = ? and note <> 'a\\'b'", false)
	}
}
