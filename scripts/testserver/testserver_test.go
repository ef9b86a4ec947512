package testserver

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/go-zookeeper/zk"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

func TestMemcachedSetGetStopRestart(t *testing.T) {
	m := StartMemcached(t)
	c := memcache.New(m.Addr)
	if err := c.Set(&memcache.Item{Key: "k", Value: []byte("v1")}); err != nil {
		t.Fatalf("Set: %v", err)
	}
	checkMemcachedGet(t, c, "k", "v1")

	m.Stop()
	if _, err := memcache.New(m.Addr).Get("k"); err == nil {
		t.Fatal("Get after Stop succeeded")
	}

	m.Restart()
	c = memcache.New(m.Addr)
	if _, err := c.Get("k"); !errors.Is(err, memcache.ErrCacheMiss) {
		t.Fatalf("Get after Restart: err = %v, want a miss (a fresh server)", err)
	}
	if err := c.Set(&memcache.Item{Key: "k", Value: []byte("v2")}); err != nil {
		t.Fatalf("Set after Restart: %v", err)
	}
	checkMemcachedGet(t, c, "k", "v2")
}

func checkMemcachedGet(t *testing.T, c *memcache.Client, key, want string) {
	t.Helper()
	it, err := c.Get(key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	if string(it.Value) != want {
		t.Fatalf("Get(%q) = %q, want %q", key, it.Value, want)
	}
}

func TestMariaDB(t *testing.T) {
	m := StartMariaDB(t)
	db, err := sql.Open("mysql", m.DSN(""))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var one int
	if err := db.QueryRow("SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("SELECT 1 = %d, %v", one, err)
	}
	if _, err := db.Exec("CREATE DATABASE faed_test"); err != nil {
		t.Fatalf("CREATE DATABASE: %v", err)
	}
	db.Close()

	m.Restart()
	checkMariaDBTable(t, m.DSN("faed_test"))
}

// checkMariaDBTable proves the database survived a restart and takes writes.
func checkMariaDBTable(t *testing.T, dsn string) {
	t.Helper()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE TABLE kv (k VARCHAR(64) PRIMARY KEY, v BLOB)"); err != nil {
		t.Fatalf("CREATE TABLE after Restart: %v", err)
	}
	if _, err := db.Exec("INSERT INTO kv VALUES ('a', 'b')"); err != nil {
		t.Fatalf("INSERT: %v", err)
	}
	var v string
	if err := db.QueryRow("SELECT v FROM kv WHERE k = 'a'").Scan(&v); err != nil || v != "b" {
		t.Fatalf("SELECT v = %q, %v", v, err)
	}
}

type nopLogger struct{}

func (nopLogger) Printf(string, ...any) {}

func connectZK(t *testing.T, zs ...*ZooKeeper) *zk.Conn {
	t.Helper()
	addrs := make([]string, len(zs))
	for i, z := range zs {
		addrs[i] = z.Addr
	}
	c, _, err := zk.Connect(addrs, 4*time.Second, zk.WithLogger(nopLogger{}))
	if err != nil {
		t.Fatalf("zk.Connect: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

func TestZooKeeper(t *testing.T) {
	z := StartZooKeeper(t)
	if mode := z.Mode(); mode != "standalone" {
		t.Fatalf("Mode = %q, want standalone", mode)
	}
	c := connectZK(t, z)
	if _, err := c.Create("/faed", []byte("hello"), 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatalf("Create: %v", err)
	}
	checkZKGet(t, c, "/faed", "hello")
}

func checkZKGet(t *testing.T, c *zk.Conn, path, want string) {
	t.Helper()
	EventuallyNil(t, "ZooKeeper to serve "+path, 20*time.Second, func() error {
		b, _, err := c.Get(path)
		if err != nil {
			return err
		}
		if string(b) != want {
			return fmt.Errorf("Get(%s) = %q, want %q", path, b, want)
		}
		return nil
	})
}

func TestZooKeeperEnsembleSurvivesLeaderStop(t *testing.T) {
	zs := StartZooKeeperEnsemble(t, 3)
	leader := zkLeader(t, zs)
	c := connectZK(t, zs...)
	if _, err := c.Create("/before", []byte("1"), 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatalf("Create: %v", err)
	}

	leader.Stop()
	EventuallyNil(t, "a create after the leader stopped", 30*time.Second, func() error {
		_, err := c.Create("/after", []byte("2"), 0, zk.WorldACL(zk.PermAll))
		if errors.Is(err, zk.ErrNodeExists) {
			return nil // an earlier try went through before its answer was lost
		}
		return err
	})
	checkZKGet(t, c, "/before", "1")

	leader.Restart()
	if mode := leader.Mode(); mode != "follower" && mode != "leader" {
		t.Fatalf("restarted member Mode = %q", mode)
	}
	checkZKGet(t, connectZK(t, leader), "/after", "2")
}

// zkLeader returns the one member whose srvr says leader.
func zkLeader(t *testing.T, zs []*ZooKeeper) *ZooKeeper {
	t.Helper()
	var leaders []*ZooKeeper
	for _, z := range zs {
		switch mode := z.Mode(); mode {
		case "leader":
			leaders = append(leaders, z)
		case "follower":
		default:
			t.Fatalf("member %d Mode = %q", z.ID, mode)
		}
	}
	if len(leaders) != 1 {
		t.Fatalf("%d leaders, want 1", len(leaders))
	}
	return leaders[0]
}

func TestMongo(t *testing.T) {
	m := StartMongo(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := mongo.Connect(options.Client().ApplyURI(m.URI))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect(context.Background())
	coll := c.Database("faed_test").Collection("kv")
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "k"}, {Key: "v", Value: "hello"}}); err != nil {
		t.Fatalf("InsertOne: %v", err)
	}
	var got struct {
		V string `bson:"v"`
	}
	if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: "k"}}).Decode(&got); err != nil {
		t.Fatalf("FindOne: %v", err)
	}
	if got.V != "hello" {
		t.Fatalf("FindOne v = %q, want hello", got.V)
	}
}
