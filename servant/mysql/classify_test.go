package mysql

import "testing"

func TestIsRead(t *testing.T) {
	tests := []struct {
		name string
		sql  string
		want bool
	}{
		{"select", "SELECT 1", true},
		{"lower case", "select * from t", true},
		{"mixed case", "SeLeCt 1", true},
		{"show", "SHOW TABLES", true},
		{"describe", "describe t", true},
		{"desc", "DESC t", true},
		{"explain", "explain select 1", true},
		{"leading whitespace", " \t\r\n SELECT 1", true},
		{"block comment", "/* hi */ SELECT 1", true},
		{"two comments", "/* a */\n/* b */select 1", true},
		{"hash comment", "# note\nSELECT 1", true},
		{"dash comment", "-- note\nSELECT 1", true},
		{"dash comment with tab", "--\tnote\nSELECT 1", true},
		{"parenthesised union", "(SELECT 1) UNION (SELECT 2)", true},
		{"star right after keyword", "SELECT*FROM t", true},
		{"insert", "INSERT INTO t VALUES (1)", false},
		{"update", "update t set a=1", false},
		{"delete", "DELETE FROM t", false},
		{"replace", "REPLACE INTO t VALUES (1)", false},
		{"with is a write", "WITH x AS (SELECT 1) SELECT * FROM x", false},
		{"keyword prefix only", "SELECTED 1", false},
		{"desc prefix only", "DESCRIPTION", false},
		{"comment hides insert", "/* SELECT */ INSERT INTO t VALUES (1)", false},
		{"executable comment", "/*!40101 SET NAMES utf8 */", false},
		{"mariadb executable comment", "/*M!100000 SELECT 1 */", false},
		{"unterminated comment", "/* SELECT 1", false},
		{"comment to end", "-- SELECT 1", false},
		{"dashes without space are no comment", "--1\nSELECT 1", false},
		{"empty", "", false},
		{"only whitespace", "   ", false},
		{"non-ASCII letter folding to s", "ſelect 1", false},
		{"call", "CALL p()", false},
		{"set", "SET @a = 1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsRead(tt.sql); got != tt.want {
				t.Errorf("IsRead(%q) = %v, want %v", tt.sql, got, tt.want)
			}
		})
	}
}

func TestIsReadAllocs(t *testing.T) {
	allocs := testing.AllocsPerRun(100, func() { IsRead("/* c */ select * from t where id = ?") })
	if allocs != 0 {
		t.Errorf("IsRead allocates %v times per call, want 0", allocs)
	}
}

func BenchmarkIsRead(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		IsRead("  /* route */ select id, name from user where id = ?")
	}
}

func BenchmarkIsReadWrite(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		IsRead("UPDATE user SET name = ? WHERE id = ?")
	}
}
