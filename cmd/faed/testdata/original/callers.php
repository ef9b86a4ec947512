<?php
// PHP written the way the original fae/faed's own client scripts were: a
// TSocketPool under a TBufferedTransport and TBinaryProtocol, a Context
// built from rid and reason only (no uid, rid given as a string), a
// TMemcacheData with data but no flags, id_next_with_tag with no tag. It
// calls faed through stubs generated from testdata/original/fun.thrift, the
// original's wire interface, not from idl/fun.thrift.
//
// Usage: php callers.php HOST PORT STUBS RUN
//
// STUBS is the output directory of `thrift --gen php` (it holds fun/rpc/).
// RUN names what this run writes (keys, rows, a collection, znodes).
// TestOriginalPHPCallers (original_test.go) starts faed and the servers with
// the names backends_test.go prepares: memcache pool "mc", mysql pool "main"
// with table item, mongodb pool "game", the zk servant.
//
// Prints one line per call: "ok METHOD WHAT: ANSWER" when faed answered as
// the original did, or "FAIL METHOD WHAT: WHY". Every call is made whatever
// the earlier ones gave; the last line is "done". Exits 0 unless the
// arguments are wrong.

if ($argc !== 5) {
    fwrite(STDERR, "usage: php callers.php HOST PORT STUBS RUN\n");
    exit(2);
}
[, $host, $port, $stubs, $run] = $argv;

// Thrift's PHP library where Debian's php-thrift puts it (flat under
// /usr/lib/php), and the generated stubs, one class per file.
spl_autoload_register(static function (string $class) use ($stubs): void {
    $thrift = getenv('FAE_THRIFT_LIB') ?: '/usr/lib/php';
    foreach (['Thrift\\' => "$thrift/", 'fun\\rpc\\' => "$stubs/fun/rpc/"] as $prefix => $dir) {
        if (strncmp($class, $prefix, strlen($prefix)) === 0) {
            $file = $dir . str_replace('\\', '/', substr($class, strlen($prefix))) . '.php';
            if (is_file($file)) {
                require $file;
            }
            return;
        }
    }
});

use fun\rpc\Context;
use fun\rpc\FunServantClient;
use fun\rpc\TCacheMissed;
use fun\rpc\TMemcacheData;
use fun\rpc\TMongoNotFound;
use Thrift\Protocol\TBinaryProtocol;
use Thrift\Transport\TBufferedTransport;
use Thrift\Transport\TSocketPool;

// call runs one call and prints its line. $want gets the answer and says
// what was wrong with it, or null when it is what the original answered.
// $declared names the exception class that is this call's expected answer.
function call(string $method, string $what, callable $do, callable $want, ?string $declared = null): void
{
    try {
        $got = $do();
    } catch (Throwable $e) {
        if ($declared !== null && $e instanceof $declared) {
            echo "ok $method $what: ", (new ReflectionClass($e))->getShortName(), "\n";
            return;
        }
        echo "FAIL $method $what: ", get_class($e), ': ', $e->getMessage(), "\n";
        return;
    }
    if ($declared !== null) {
        echo "FAIL $method $what: answered ", json_encode($got), ", want $declared\n";
        return;
    }
    $wrong = $want($got);
    if ($wrong !== null) {
        echo "FAIL $method $what: $wrong\n";
        return;
    }
    $shown = is_bool($got) ? var_export($got, true)
        : (is_scalar($got) ? (string) $got : json_encode($got, JSON_INVALID_UTF8_SUBSTITUTE));
    echo "ok $method $what: ", substr($shown, 0, 120), "\n";
}

// is returns a $want that accepts exactly $expected.
function is($expected): callable
{
    return static fn ($got) => $got === $expected ? null
        : 'answered ' . var_export($got, true) . ', want ' . var_export($expected, true);
}

function bson(array $doc): string
{
    return MongoDB\BSON\fromPHP($doc);
}

function unbson(string $b): array
{
    return MongoDB\BSON\toPHP($b, ['root' => 'array', 'document' => 'array', 'array' => 'array']);
}

$sock = new TSocketPool(array($host), array((int) $port));
$sock->setDebug(0);
$sock->setSendTimeout(4000);
$sock->setRecvTimeout(8000);
$sock->setNumRetries(1);
$transport = new TBufferedTransport($sock, 1024, 1024);
$protocol = new TBinaryProtocol($transport);
$client = new FunServantClient($protocol);
$transport->open();

$ctx = new Context(array('reason' => 'from php callers.php', 'rid' => '125'));

call('ping', 'in the original format', fn () => $client->ping($ctx), static fn ($s) =>
    preg_match('/^ver:\S+, build:\S+, myid:\d+, uptime:\S+$/', $s) === 1 ? null : "answered \"$s\"");
call('noop', 'echo', fn () => $client->noop(7), is(7));

// test.php: ids.
$positive = static fn ($id) => is_int($id) && $id > 0 ? null : 'answered ' . var_export($id, true);
call('id_next', 'first', fn () => $client->id_next($ctx), $positive);
call('id_next', 'with an extra argument, as the original test.php passed one', fn () => $client->id_next($ctx, 0), $positive);
$tagged = 0;
call('id_next_with_tag', 'no tag', function () use ($client, $ctx, &$tagged) {
    return $tagged = $client->id_next_with_tag($ctx, null);
}, $positive);
call('id_decode', 'of the untagged id', fn () => $client->id_decode($ctx, $tagged), static fn ($parts) =>
    is_array($parts) && count($parts) === 4 && $parts[1] === 0 ? null : 'answered ' . json_encode($parts) . ', want [ms, tag 0, worker, seq]');

// test.php: the local cache.
call('lc_set', 'a value', fn () => $client->lc_set($ctx, "$run-lc", 'world 世界'), is(true));
call('lc_get', 'it back', fn () => $client->lc_get($ctx, "$run-lc"), is('world 世界'));
call('lc_del', 'it', fn () => $client->lc_del($ctx, "$run-lc"), is(null));
call('lc_get', 'after lc_del', fn () => $client->lc_get($ctx, "$run-lc"), is(null), TCacheMissed::class);

// The cluster lock.
call('lock', 'a free key', fn () => $client->lock($ctx, 'callers.php', "$run-lock"), is(true));
call('lock', 'the held key', fn () => $client->lock($ctx, 'callers.php', "$run-lock"), is(false));
call('unlock', 'it', fn () => $client->unlock($ctx, 'callers.php', "$run-lock"), is(null));

// test.php: memcache, TMemcacheData without flags.
$mcData = new TMemcacheData();
$mcData->data = 'world 世界';
call('mc_set', 'data without flags', fn () => $client->mc_set($ctx, 'mc', "$run-hello", $mcData, 120), is(true));
call('mc_get', 'it back, flags 0', fn () => $client->mc_get($ctx, 'mc', "$run-hello"), static fn ($d) =>
    $d instanceof TMemcacheData && $d->data === 'world 世界' && $d->flags === 0 ? null : 'answered ' . json_encode($d));
$mcData->data = 0;
call('mc_add', 'a counter without flags', fn () => $client->mc_add($ctx, 'mc', "$run-counter", $mcData, 3500), is(true));
call('mc_increment', 'it by 7', fn () => $client->mc_increment($ctx, 'mc', "$run-counter", 7), is(7));
call('mc_delete', 'the counter', fn () => $client->mc_delete($ctx, 'mc', "$run-counter"), is(true));
call('mc_get', 'a missing key', fn () => $client->mc_get($ctx, 'mc', "$run-non-exist"), is(null), TCacheMissed::class);

// mysql.php and alwayserr.php: my_query, argv as PHP ints.
$rows = static fn (int $n) => static fn ($r) => $r instanceof fun\rpc\MysqlResult && count($r->rows) === $n
    ? null : 'answered ' . json_encode($r) . ", want $n rows";
call('my_query', 'insert', fn () => $client->my_query($ctx, 'main', 'item', 0,
    'INSERT INTO item (name, score) VALUES (?, ?)', array("$run-item", 1), ''), static fn ($r) =>
    $r->rowsAffected === 1 && $r->lastInsertId > 0 ? null : 'answered ' . json_encode($r));
call('my_query', 'update', fn () => $client->my_query($ctx, 'main', 'item', 0,
    'UPDATE item SET score=score+1 WHERE name=?', array("$run-item"), ''), static fn ($r) =>
    $r->rowsAffected === 1 ? null : 'answered ' . json_encode($r));
call('my_query', 'select a row', fn () => $client->my_query($ctx, 'main', 'item', 0,
    'SELECT name, score FROM item WHERE name=? AND score>?', array("$run-item", 1), ''), $rows(1));
call('my_query', 'select no row (alwayserr.php: a uid that does not exist)', fn () => $client->my_query($ctx, 'main', 'item', 0,
    'SELECT name FROM item WHERE id=?', array(0), ''), $rows(0));

// test.php: mongodb, with find_and_modify as its id sequence.
$t = 'orig_' . preg_replace('/[^A-Za-z0-9]/', '_', $run);
$doc = array('name' => 'funky.php', 'gendar' => 'M', 'abtype' => array('payment' => 'a', 'tutorial' => 'b'));
call('mg_insert', 'a document', fn () => $client->mg_insert($ctx, 'game', $t, 0, bson($doc)), is(true));
call('mg_inserts', 'two more', fn () => $client->mg_inserts($ctx, 'game', $t, 0, array(bson($doc), bson($doc))), is(true));
call('mg_find_one', 'by name, all fields', fn () => unbson($client->mg_find_one($ctx, 'game', $t, 0,
    bson(array('name' => 'funky.php')), ''))['gendar'], is('M'));
call('mg_find_one', 'a missing document', fn () => $client->mg_find_one($ctx, 'game', $t, 0,
    bson(array('name' => 'nobody')), ''), is(null), TMongoNotFound::class);
call('mg_count', 'them', fn () => $client->mg_count($ctx, 'game', $t, 0, bson(array('gendar' => 'M'))), is(3));
call('mg_find_all', 'them', fn () => count($client->mg_find_all($ctx, 'game', $t, 0,
    bson(array('gendar' => 'M')), bson(array()), 0, 0, array())), is(3));
$seq = fn () => unbson($client->mg_find_and_modify($ctx, 'game', "{$t}_seq", 0,
    bson(array('table_name' => 'idMap')), bson(array('$inc' => array('value' => 1))), true, false, true))['value'];
call('mg_find_and_modify', 'id sequence, first', $seq, is(1));
call('mg_find_and_modify', 'id sequence, next', $seq, is(2));
call('mg_find_and_modify', 'no match: an empty document', fn () => unbson($client->mg_find_and_modify($ctx, 'game', $t, 0,
    bson(array('name' => 'nobody')), bson(array('$set' => array('x' => 1))), false, false, true)), is(array()));

// ZooKeeper.
call('zk_create', 'a node', fn () => $client->zk_create($ctx, "/$run/a", 'data a'), is(true));
call('zk_children', 'of its parent', fn () => $client->zk_children($ctx, "/$run"), is(array('a')));
call('zk_del', 'it', fn () => $client->zk_del($ctx, "/$run/a"), is(true));
call('zk_del', 'its parent', fn () => $client->zk_del($ctx, "/$run"), is(true));

$transport->close();
echo "done\n";
