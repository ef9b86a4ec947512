package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/faed/faed/scripts/testserver"

	_ "github.com/go-sql-driver/mysql"
	"github.com/go-zookeeper/zk"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// TestPHPBackends runs testdata/backends.php, Apache Thrift's PHP library
// calling faed's memcache, mysql, mongodb and zk servants through the
// generated stubs, against real servers: two memcached, MariaDB, FerretDB
// and ZooKeeper. The script checks every answer; this test then checks that
// faed counted exactly the calls the script made, and looks at the servers
// themselves for what the script left behind.

// backendsScriptTimeout bounds one run of the script.
const backendsScriptTimeout = 120 * time.Second

// The names testdata/backends.php relies on (see its header).
const (
	zkRoot        = "/faetest/zk"
	mongoDatabase = "faegame" // the legacy database of pool "game"
	mysqlUser     = "fae"
	mysqlPassword = "Pw4faed-not-shown" // must never appear in GET /config
)

// backendCalls are the calls the script must have made on every run.
var backendCalls = []string{
	"mc_set", "mc_get", "mc_add", "mc_delete", "mc_increment",
	"my_query", "my_query_shards", "my_bulk_exec", "my_merge", "my_evict",
	"mg_insert", "mg_inserts", "mg_find_one", "mg_find_id", "mg_find_all", "mg_count",
	"mg_update", "mg_update_id", "mg_upsert", "mg_delete", "mg_find_and_modify",
	"zk_create", "zk_children", "zk_del",
}

// backends are the servers one TestPHPBackends talks to.
type backends struct {
	mc    [2]*testserver.Memcached
	mysql *testserver.MariaDB
	mongo *testserver.Mongo
	zk    *testserver.ZooKeeper
}

func TestPHPBackends(t *testing.T) {
	requireInstalled(t, scriptClient{
		probe: []string{"php", "-r", `require "../../idl/php/autoload.php";
			if (!class_exists("Thrift\\Transport\\TSocket")) {
				echo "no Thrift\\Transport\\TSocket under ", getenv("FAE_THRIFT_LIB") ?: "/usr/lib/php";
				exit(3);
			}
			if (!function_exists("MongoDB\\BSON\\fromPHP")) {
				echo "no MongoDB\\BSON\\fromPHP: the mongodb extension is not loaded";
				exit(4);
			}`},
		install: "php-cli, php-thrift and php-mongodb",
	})
	b := startBackends(t)
	d := testserver.StartFaed(t, t.TempDir(), b.toml())

	tally := map[string]callCount{}
	var runs []string
	for _, network := range []string{"tcp", "unix"} {
		run := network + "-buffered"
		addr := map[string]string{"tcp": "tcp:" + d.TCP, "unix": "unix:" + d.Unix}[network]
		ok := t.Run(network, func(t *testing.T) {
			for name, c := range runBackendsScript(t, addr, "buffered", run) {
				tally[name] = callCount{tally[name].Count + c.Count, tally[name].Errors + c.Errors}
			}
		})
		if !ok {
			return
		}
		runs = append(runs, run)
	}
	checkBackendStats(t, d, tally, len(runs))
	checkMetrics(t, d, b)
	checkConfigMasked(t, d)
	b.checkLeftBehind(t, runs)
}

// startBackends starts every server and prepares MariaDB.
func startBackends(t *testing.T) *backends {
	b := &backends{mc: [2]*testserver.Memcached{testserver.StartMemcached(t), testserver.StartMemcached(t)}}
	b.mysql = testserver.StartMariaDB(t)
	prepareMySQL(t, b.mysql)
	b.mongo = testserver.StartMongo(t)
	b.zk = testserver.StartZooKeeper(t)
	return b
}

// prepareMySQL creates the databases, tables, lookup rows and the user with
// a password that testdata/backends.php and faed's config rely on.
func prepareMySQL(t *testing.T, m *testserver.MariaDB) {
	t.Helper()
	db, err := sql.Open("mysql", m.DSN(""))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	stmts := []string{
		"CREATE DATABASE faetest",
		`CREATE TABLE faetest.item (id BIGINT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(191) NOT NULL UNIQUE,
			score INT NULL, note VARCHAR(64) NULL, attrs TEXT NULL)`,
		"CREATE DATABASE faelookup",
		"CREATE TABLE faelookup.UserLookup (entityId BIGINT PRIMARY KEY, shardId INT NOT NULL, shardLock TINYINT NOT NULL DEFAULT 0)",
		"INSERT INTO faelookup.UserLookup VALUES (101, 1, 0), (202, 2, 0), (303, 1, 1)",
		fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY '%s'", mysqlUser, mysqlPassword),
	}
	for _, name := range []string{"faetest", "faelookup", "faeshard1", "faeshard2"} {
		if strings.HasPrefix(name, "faeshard") {
			stmts = append(stmts, "CREATE DATABASE "+name,
				"CREATE TABLE "+name+".Post (id BIGINT AUTO_INCREMENT PRIMARY KEY, uid BIGINT NOT NULL, body VARCHAR(191) NOT NULL)")
		}
		stmts = append(stmts, fmt.Sprintf("GRANT ALL ON %s.* TO '%s'@'%%'", name, mysqlUser))
	}
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("preparing MariaDB: %s: %v", s, err)
		}
	}
}

// toml is faed's configuration for b's servers, in the names the script
// relies on.
func (b *backends) toml() string {
	var s strings.Builder
	fmt.Fprintf(&s, "[servant.memcache.pools.mc]\nservers = [%q, %q]\nselection = \"standard\"\n",
		b.mc[0].Addr, b.mc[1].Addr)
	for pool, db := range map[string]string{"main": "faetest", "lookup": "faelookup", "user1": "faeshard1", "user2": "faeshard2"} {
		fmt.Fprintf(&s, "[servant.mysql.pools.%s]\naddr = %q\nuser = %q\npassword = %q\ndatabase = %q\n",
			pool, b.mysql.Addr, mysqlUser, mysqlPassword, db)
	}
	s.WriteString("[servant.mysql.lookup]\npool = \"lookup\"\nsharded = [\"user\"]\n")
	fmt.Fprintf(&s, "[servant.mongodb.pools.game]\nuri = %q\nshard_strategy = \"legacy\"\ndatabase = %q\n",
		b.mongo.URI, mongoDatabase)
	fmt.Fprintf(&s, "[servant.zk]\nservers = [%q]\nroot = %q\n", b.zk.Addr, zkRoot)
	return s.String()
}

// runBackendsScript runs the script once and returns the calls it says it
// made, failing the test with its output if it does not pass.
func runBackendsScript(t *testing.T, addr, transport, run string) map[string]callCount {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), backendsScriptTimeout)
	defer cancel()
	args := []string{"testdata/backends.php", addr, transport, run}
	out, err := exec.CommandContext(ctx, "php", args...).CombinedOutput()
	switch {
	case ctx.Err() != nil:
		t.Fatalf("php %s still running after %v; output so far:\n%s", strings.Join(args, " "), backendsScriptTimeout, out)
	case err != nil:
		t.Fatalf("php %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	summary, tallyLine, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	want := "php-backends " + strings.SplitN(addr, ":", 2)[0] + " " + transport + ": "
	if !strings.HasPrefix(summary, want) || !strings.HasSuffix(summary, "checks ok") {
		t.Fatalf("output %q, want a line starting %q and saying the checks are ok", out, want)
	}
	t.Log(summary)
	var tally map[string]callCount
	if err := json.Unmarshal([]byte(strings.TrimPrefix(tallyLine, "calls ")), &tally); err != nil {
		t.Fatalf("the script's calls line %q: %v", tallyLine, err)
	}
	for _, name := range backendCalls {
		if tally[name].Count == 0 {
			t.Errorf("the script made no %s call (its tally: %v)", name, tally)
		}
	}
	return tally
}

// checkBackendStats checks that faed counted every call the scripts made,
// each error included, and nothing else; and that the query cache and the
// MySQL breaker saw what the script did.
func checkBackendStats(t *testing.T, d *testserver.Faed, tally map[string]callCount, runs int) {
	t.Helper()
	calls := callStats(t, d)
	for name, c := range tally {
		checkCalls(t, calls, name, c.Count, c.Errors)
	}
	for name, c := range calls {
		if _, ok := tally[name]; !ok && c.Count > 0 {
			t.Errorf("/stats counts %d %s calls the scripts never made", c.Count, name)
		}
	}
	my := mysqlStats(t, d)
	// Per run: five cached reads of one key, two of them hits.
	if got := my.Pools["main"]; got.CacheHits != 2*runs || got.CacheMisses != 3*runs {
		t.Errorf("/stats mysql pool main: %d query-cache hits, %d misses; want %d, %d", got.CacheHits, got.CacheMisses, 2*runs, 3*runs)
	}
	for name, p := range my.Pools {
		if p.Breaker.Opens != 0 {
			t.Errorf("/stats mysql pool %s: breaker opened %d times; user errors must not open it", name, p.Breaker.Opens)
		}
	}
}

// mysqlStats is the part of the mysql servant's stats this test reads.
type mysqlStatsJSON struct {
	Pools map[string]struct {
		CacheHits   int `json:"cache_hits"`
		CacheMisses int `json:"cache_misses"`
		Breaker     struct {
			Opens int `json:"opens"`
		} `json:"breaker"`
	}
}

func mysqlStats(t *testing.T, d *testserver.Faed) mysqlStatsJSON {
	t.Helper()
	var stats struct {
		Servant struct {
			MySQL *mysqlStatsJSON `json:"mysql"`
		} `json:"servant"`
	}
	if err := json.Unmarshal(adminGet(t, d, "/stats"), &stats); err != nil {
		t.Fatalf("GET /stats: %v", err)
	}
	if stats.Servant.MySQL == nil {
		t.Fatal("GET /stats has no servant.mysql section")
	}
	return *stats.Servant.MySQL
}

// checkConfigMasked checks that GET /config shows the backends but not the
// MySQL password.
func checkConfigMasked(t *testing.T, d *testserver.Faed) {
	t.Helper()
	body := string(adminGet(t, d, "/config"))
	if strings.Contains(body, mysqlPassword) {
		t.Errorf("GET /config shows the MySQL password:\n%s", body)
	}
	for _, want := range []string{`user = "fae"`, `password = "******"`, `root = "/faetest/zk"`, `selection = "standard"`} {
		if !strings.Contains(body, want) {
			t.Errorf("GET /config lacks %s:\n%s", want, body)
		}
	}
}

func adminGet(t *testing.T, d *testserver.Faed, path string) []byte {
	t.Helper()
	resp, err := http.Get("http://" + d.HTTP + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s, %v\n%s", path, resp.Status, err, body)
	}
	return body
}

// checkLeftBehind looks at the servers for what each run left on purpose.
func (b *backends) checkLeftBehind(t *testing.T, runs []string) {
	for _, run := range runs {
		b.checkPlacement(t, run)
		b.checkMongo(t, run)
	}
	b.checkZk(t, runs)
}

// checkPlacement checks that each key is on the server the PHP memcache
// extension's standard strategy picks, and only there.
func (b *backends) checkPlacement(t *testing.T, run string) {
	t.Helper()
	for i := range 16 {
		key := fmt.Sprintf("%s:place:%d", run, i)
		want := standardServer(key, len(b.mc))
		for j, mc := range b.mc {
			if got := memcachedGet(t, mc.Addr, key); (j == want) != (got == fmt.Sprintf("place %d", i)) {
				t.Errorf("memcached %d of 2 has %q = %q; standard selection puts the key on server %d", j, key, got, want)
			}
		}
	}
}

// standardServer is the PHP memcache extension's standard strategy
// (mmc_standard_find_server) for n servers of weight 1.
func standardServer(key string, n int) int {
	h := (crc32.ChecksumIEEE([]byte(key)) >> 16) & 0x7fff
	if h == 0 {
		h = 1
	}
	return int(h) % n
}

// memcachedGet asks the server for key directly; "" means a miss.
func memcachedGet(t *testing.T, addr, key string) string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(2 * time.Second))
	fmt.Fprintf(conn, "get %s\r\n", key)
	r := bufio.NewReader(conn)
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("memcached %s: get %s: %v", addr, key, err)
	}
	if line == "END\r\n" {
		return ""
	}
	var name string
	var flags, size int
	if _, err := fmt.Sscanf(line, "VALUE %s %d %d\r\n", &name, &flags, &size); err != nil {
		t.Fatalf("memcached %s: get %s answered %q", addr, key, line)
	}
	data := make([]byte, size+2)
	if _, err := io.ReadFull(r, data); err != nil {
		t.Fatalf("memcached %s: get %s: %v", addr, key, err)
	}
	return string(data[:size])
}

// checkMongo checks that the run's documents are in the pool's legacy
// database, whatever shardId the calls gave.
func (b *backends) checkMongo(t *testing.T, run string) {
	t.Helper()
	client, err := mongo.Connect(options.Client().ApplyURI(b.mongo.URI).SetServerSelectionTimeout(5 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Disconnect(context.Background())
	coll := "players_" + strings.NewReplacer("-", "_", ":", "_").Replace(run)
	n, err := client.Database(mongoDatabase).Collection(coll).CountDocuments(t.Context(), bson.D{})
	if err != nil || n != 5 {
		t.Errorf("MongoDB %s.%s holds %d documents (%v); want the 5 the script left", mongoDatabase, coll, n, err)
	}
}

type zkQuiet struct{}

func (zkQuiet) Printf(string, ...any) {}

// checkZk checks that the scripts' znodes are under the root, and that
// nothing escaped it.
func (b *backends) checkZk(t *testing.T, runs []string) {
	t.Helper()
	conn, _, err := zk.Connect([]string{b.zk.Addr}, 5*time.Second, zk.WithLogger(zkQuiet{}), zk.WithLogInfo(false))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var want []string
	for _, run := range runs {
		want = append(want, run+"-keep")
		p := zkRoot + "/" + run + "-keep"
		if data, _, err := conn.Get(p); err != nil || string(data) != "kept by "+run {
			t.Errorf("znode %s: %q, %v; want the data %q", p, data, err, "kept by "+run)
		}
	}
	for dir, want := range map[string][]string{zkRoot: want, "/faetest": {"zk"}} {
		got, _, err := conn.Children(dir)
		slices.Sort(got)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("children of %s: %q, %v; want %q (the scripts delete the rest, and .. never escapes)", dir, got, err, want)
		}
	}
}
