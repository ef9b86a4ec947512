package mysql

import "testing"

func TestLookupTouches(t *testing.T) {
	l := &lookup{srv: &server{name: "lookup"}, table: "userlookup"}
	for _, tc := range []struct {
		name, pool, table, sql string
		want                   bool
	}{
		{"update by table argument", "lookup", "UserLookup", "UPDATE t SET shardLock = 1", true},
		{"update naming the table", "lookup", "", "update USERLOOKUP set shardId = 2 where entityId = 1", true},
		{"db-qualified table argument", "lookup", "faelookup.UserLookup", "DELETE FROM x", true},
		{"replace", "lookup", "", "REPLACE INTO UserLookup VALUES (1, 2, 0)", true},
		{"insert on duplicate key update", "lookup", "", "INSERT INTO UserLookup VALUES (1, 2, 0) ON DUPLICATE KEY UPDATE shardId = 2", true},
		{"insert behind an executable comment", "lookup", "", "/*!50000 UPDATE UserLookup SET shardId = 2 */", true},
		{"truncate", "lookup", "", "TRUNCATE TABLE UserLookup", true},
		{"plain insert", "lookup", "", "INSERT INTO UserLookup (entityId, shardId) VALUES (9, 1)", false},
		{"insert ignore", "lookup", "UserLookup", " /* new user */ insert ignore into UserLookup values (9, 1, 0)", false},
		{"other pool", "main", "UserLookup", "UPDATE UserLookup SET shardId = 2", false},
		{"other table", "lookup", "Other", "UPDATE Other SET x = 1", false},
	} {
		if got := l.touches(tc.pool, tc.table, tc.sql); got != tc.want {
			t.Errorf("%s: touches(%q, %q, %q) = %v, want %v", tc.name, tc.pool, tc.table, tc.sql, got, tc.want)
		}
	}
}
