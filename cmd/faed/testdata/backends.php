<?php
// Calls faed's backend servants (memcache, mysql, mongodb, zk) through the
// PHP stubs generated from idl/fun.thrift and idl/php/FaeClient.php, against
// the real servers TestPHPBackends (backends_test.go) starts, and checks
// every answer.
//
// Usage: php backends.php tcp:HOST:PORT|unix:/PATH buffered|framed [RUN]
//
// RUN (default "php<pid>") names everything this run writes: memcache keys,
// rows, a MongoDB collection, znodes. It must be unique per faed and must not
// contain "_" or "%" (it is used in LIKE patterns).
//
// What the Go test prepared, and this script relies on:
//   memcache pool "mc": two servers, standard selection;
//   mysql pool "main" on database faetest, with the table item (below);
//   mysql sharded name "user" over pools user1 and user2 (table Post), with
//     lookup rows 101 → shard 1, 202 → shard 2, 303 → shard 1 locked;
//   mongodb pool "game", legacy strategy;
//   zk servant with its root somewhere; this script never sees the root.
//
// Prints "php-backends <network> <transport>: N checks ok", then
// "calls <json>": how many calls of each method this run made and how many
// of them faed answered with a TApplicationException, for the Go test to
// compare with faed's own counters. Exits 0; or prints the first failed
// check and exits 1. Leaves behind on purpose: the memcache keys RUN:place:0
// to RUN:place:15 (value "place i"), the collection players_RUN with five
// documents, and the znode /RUN-keep with data "kept by RUN".

require __DIR__ . '/../../../idl/php/FaeClient.php';

use fae\FaeClient;
use fun\rpc\TCacheMissed;
use fun\rpc\TMemcacheData;
use fun\rpc\TMongoNotFound;
use Thrift\Exception\TApplicationException;

const MC = 'mc';
const MY = 'main';
const SHARDED = 'user';
const MG = 'game';

if ($argc < 3) {
    fwrite(STDERR, "usage: php backends.php tcp:HOST:PORT|unix:/PATH buffered|framed [RUN]\n");
    exit(2);
}
[, $addr, $transport] = $argv;
$run = $argv[3] ?? 'php' . getmypid();
$label = 'php-backends ' . explode(':', $addr, 2)[0] . " $transport";
$checks = 0;

function check(bool $ok, string $what): void
{
    global $checks, $label;
    if (!$ok) {
        fwrite(STDOUT, "$label: FAILED: $what\n");
        exit(1);
    }
    $checks++;
}

// same checks that $got equals $want, showing both when it does not.
function same(mixed $got, mixed $want, string $what): void
{
    check($got === $want, "$what: got " . show($got) . ', want ' . show($want));
}

function show(mixed $v): string
{
    return json_encode($v, JSON_INVALID_UTF8_SUBSTITUTE | JSON_UNESCAPED_SLASHES) ?: var_export($v, true);
}

// expectThrow checks that $call throws $class (or one of the classes
// listed) with $mention in its message.
function expectThrow(string|array $class, callable $call, string $what, string $mention = ''): void
{
    $classes = (array) $class;
    try {
        $got = $call();
    } catch (Throwable $e) {
        $isOne = array_filter($classes, fn (string $c) => $e instanceof $c) !== [];
        check($isOne, "$what: want " . implode(' or ', $classes) . ', got ' . get_class($e) . ': ' . $e->getMessage());
        check(str_contains($e->getMessage(), $mention), "$what: message \"{$e->getMessage()}\" lacks \"$mention\"");
        return;
    }
    check(false, "$what: want " . implode(' or ', $classes) . ', got the answer ' . show($got));
}

// Counted forwards every call to a FaeClient and tallies, per method, the
// calls made and those answered with a TApplicationException (what faed
// counts as an error; a declared exception is a normal answer).
final class Counted
{
    /** @var array<string, array{count: int, errors: int}> */
    public array $tally = [];

    public function __construct(private FaeClient $fae)
    {
    }

    public function __call(string $method, array $args): mixed
    {
        $this->tally[$method] ??= ['count' => 0, 'errors' => 0];
        $this->tally[$method]['count']++;
        try {
            return $this->fae->$method(...$args);
        } catch (TApplicationException $e) {
            $this->tally[$method]['errors']++;
            throw $e;
        }
    }

    public function close(): void
    {
        $this->fae->close();
    }
}

function bson(array|object $doc): string
{
    return MongoDB\BSON\fromPHP($doc);
}

function unbson(string $b): array
{
    return MongoDB\BSON\toPHP($b, ['root' => 'array', 'document' => 'array', 'array' => 'array']);
}

// ids returns the _id of each BSON document.
function ids(array $docs): array
{
    return array_map(fn (string $d) => unbson($d)['_id'], $docs);
}

function checkMemcache(Counted $fae, $ctx, string $run): void
{
    $data = "bin\x00\xff\x80\r\nEND\r\n tail";
    $value = new TMemcacheData(['data' => $data, 'flags' => 0x7ffffff1]);
    same($fae->mc_set($ctx, MC, "$run:k", $value, 0), true, 'mc_set');
    $got = $fae->mc_get($ctx, MC, "$run:k");
    check($got instanceof TMemcacheData, 'mc_get: want a TMemcacheData, got ' . show($got));
    same($got->data, $data, 'mc_get data after mc_set');
    same($got->flags, 0x7ffffff1, 'mc_get flags after mc_set');
    expectThrow(TCacheMissed::class, fn () => $fae->mc_get($ctx, MC, "$run:absent"), 'mc_get of a missing key');

    $other = new TMemcacheData(['data' => 'other', 'flags' => 0]);
    same($fae->mc_add($ctx, MC, "$run:k", $other, 0), false, 'mc_add of a present key');
    same($fae->mc_get($ctx, MC, "$run:k")->data, $data, 'mc_get after the refused mc_add');
    same($fae->mc_add($ctx, MC, "$run:added", $other, 0), true, 'mc_add of a new key');
    same($fae->mc_get($ctx, MC, "$run:added")->data, 'other', 'mc_get after mc_add');
    same($fae->mc_delete($ctx, MC, "$run:added"), true, 'mc_delete of a present key');
    same($fae->mc_delete($ctx, MC, "$run:added"), false, 'mc_delete of a missing key');
    expectThrow(TCacheMissed::class, fn () => $fae->mc_get($ctx, MC, "$run:added"), 'mc_get after mc_delete');

    same($fae->mc_set($ctx, MC, "$run:n", new TMemcacheData(['data' => '10', 'flags' => 0]), 0), true, 'mc_set of a counter');
    same($fae->mc_increment($ctx, MC, "$run:n", 5), 15, 'mc_increment +5 of 10');
    same($fae->mc_increment($ctx, MC, "$run:n", -2), 13, 'mc_increment -2 of 15');
    same($fae->mc_increment($ctx, MC, "$run:n", -2), 11, 'mc_increment -2 of 13');
    same($fae->mc_get($ctx, MC, "$run:n")->data, '11', 'mc_get of the counter');
    same($fae->mc_increment($ctx, MC, "$run:n", -100), 0, 'mc_increment -100 of 11 (memcached stops at 0)');
    same($fae->mc_increment($ctx, MC, "$run:nocounter", 1), 0, 'mc_increment of a missing key');
    expectThrow(TCacheMissed::class, fn () => $fae->mc_get($ctx, MC, "$run:nocounter"), 'mc_get after mc_increment of a missing key (not created)');

    expectThrow(TApplicationException::class, fn () => $fae->mc_get($ctx, 'nope', "$run:k"), 'mc_get on an unknown pool', 'nope');
    expectThrow(TApplicationException::class, fn () => $fae->mc_set($ctx, MC, "$run:a key", $other, 0), 'mc_set of a key with a space');
    same($fae->noop(11), 11, 'noop after the memcache errors');

    for ($i = 0; $i < 16; $i++) {
        $v = new TMemcacheData(['data' => "place $i", 'flags' => 0]);
        same($fae->mc_set($ctx, MC, "$run:place:$i", $v, 0), true, "mc_set $run:place:$i");
    }
}

// my runs a query on the main pool's table item.
function my(Counted $fae, $ctx, string $sql, array $argv = [], string $cacheKey = '')
{
    return $fae->my_query($ctx, MY, 'item', 0, $sql, $argv, $cacheKey);
}

function checkMysql(Counted $fae, $ctx, string $run): void
{
    $a = "$run:a";
    $b = "$run:o'brien \\ \"x\" ; --";
    $r = my($fae, $ctx, 'INSERT INTO item (name, score, note) VALUES (?, ?, NULL)', [$a, '42']);
    same($r->rowsAffected, 1, 'my_query INSERT: rowsAffected');
    check($r->lastInsertId > 0, "my_query INSERT: lastInsertId {$r->lastInsertId}, want > 0");
    $idA = $r->lastInsertId;
    $r = my($fae, $ctx, 'INSERT INTO item (name, score, note) VALUES (?, ?, ?)', [$b, '-7', 'a note']);
    check($r->lastInsertId > $idA, "my_query second INSERT: lastInsertId {$r->lastInsertId}, want > $idA");
    $idB = $r->lastInsertId;

    $r = my($fae, $ctx, 'SELECT id, name, score, note FROM item WHERE name = ? OR name = ? ORDER BY id', [$a, $b]);
    same($r->cols, ['id', 'name', 'score', 'note'], 'my_query SELECT: cols');
    same($r->rows, [["$idA", $a, '42', 'NULL'], ["$idB", $b, '-7', 'a note']], 'my_query SELECT with bound values: rows (NULL as "NULL")');
    $r = my($fae, $ctx, 'SELECT id FROM item WHERE name = ?', ["$run:none"]);
    same([$r->cols, $r->rows], [['id'], []], 'my_query SELECT matching nothing');

    checkQueryCache($fae, $ctx, $run, $idA);
    checkShards($fae, $ctx, $run);
    checkBulk($fae, $ctx, $run);
    checkMerge($fae, $ctx, $run);
    checkMysqlErrors($fae, $ctx, $a);
}

// checkQueryCache changes a row behind the cache's back to tell a cached
// answer from a fresh one.
function checkQueryCache(Counted $fae, $ctx, string $run, int $id): void
{
    $key = "$run:cache";
    $read = fn () => my($fae, $ctx, 'SELECT score FROM item WHERE id = ?', ["$id"], $key)->rows;
    $set = fn (int $score, string $cacheKey) => my($fae, $ctx, 'UPDATE item SET score = ? WHERE id = ?', ["$score", "$id"], $cacheKey);

    same($read(), [['42']], 'cached read, first (fills the cache)');
    same($set(1, '')->rowsAffected, 1, 'UPDATE without a cacheKey');
    same($read(), [['42']], 'cached read after a write without the cacheKey (still cached)');
    same($set(2, $key)->rowsAffected, 1, 'UPDATE with the cacheKey');
    same($read(), [['2']], 'cached read after a write with the cacheKey (evicted)');
    $set(3, '');
    same($read(), [['2']], 'cached read after another write without the cacheKey');
    $fae->my_evict($ctx, $key);
    same($read(), [['3']], 'cached read after my_evict');
}

function checkShards(Counted $fae, $ctx, string $run): void
{
    $insert = 'INSERT INTO Post (uid, body) VALUES (?, ?)';
    same($fae->my_query($ctx, SHARDED, 'Post', 101, $insert, ['101', "$run:p1"], '')->rowsAffected, 1, 'sharded INSERT for 101');
    same($fae->my_query($ctx, SHARDED, 'Post', 202, $insert, ['202', "$run:p2"], '')->rowsAffected, 1, 'sharded INSERT for 202');
    $select = 'SELECT uid, body FROM Post WHERE body LIKE ? ORDER BY uid';
    $mine = ["$run:%"];
    same($fae->my_query($ctx, 'user1', 'Post', 0, $select, $mine, '')->rows, [['101', "$run:p1"]], 'shard pool user1 holds only entity 101');
    same($fae->my_query($ctx, 'user2', 'Post', 0, $select, $mine, '')->rows, [['202', "$run:p2"]], 'shard pool user2 holds only entity 202');
    same($fae->my_query($ctx, SHARDED, 'Post', 202, $select, $mine, '')->rows, [['202', "$run:p2"]], 'sharded SELECT for 202');
    $all = $fae->my_query_shards($ctx, SHARDED, 'Post', $select, $mine);
    same([$all->cols, $all->rows], [['uid', 'body'], [['101', "$run:p1"], ['202', "$run:p2"]]], 'my_query_shards');

    expectThrow(TApplicationException::class, fn () => $fae->my_query($ctx, SHARDED, 'Post', 303, $insert, ['303', "$run:p3"], ''),
        'sharded INSERT for the locked entity 303', 'shardLock');
    same($fae->my_query($ctx, SHARDED, 'Post', 303, $select, $mine, '')->rows, [['101', "$run:p1"]], 'sharded SELECT for the locked entity 303 (reads go on, shard 1)');
    expectThrow(TApplicationException::class, fn () => $fae->my_query($ctx, SHARDED, 'Post', 999, $select, $mine, ''),
        'sharded SELECT for entity 999 without a lookup row', '999');
}

function checkBulk(Counted $fae, $ctx, string $run): void
{
    $ins = 'INSERT INTO item (name) VALUES (?)';
    $n = $fae->my_bulk_exec($ctx, [MY, MY, MY, SHARDED], ['item', 'item', 'item', 'Post'], [0, 0, 0, 101],
        [$ins, $ins, 'UPDATE item SET score = 7 WHERE name IN (?, ?)', 'INSERT INTO Post (uid, body) VALUES (?, ?)'],
        [["$run:b1"], ["$run:b2"], ["$run:b1", "$run:b2"], ['101', "$run:bulk"]], ['', '', '', '']);
    same($n, 5, 'my_bulk_exec: sum of rows affected (1 + 1 + 2 + 1)');
    same(my($fae, $ctx, 'SELECT name, score FROM item WHERE name LIKE ? ORDER BY name', ["$run:b%"])->rows,
        [["$run:b1", '7'], ["$run:b2", '7']], 'rows after my_bulk_exec');

    // The statements share no transaction: those before a failure stay.
    expectThrow(TApplicationException::class, fn () => $fae->my_bulk_exec($ctx, [MY, MY, MY], ['item', 'item', 'item'], [0, 0, 0],
        [$ins, 'INSERT INTO nosuchtable (name) VALUES (?)', $ins], [["$run:b3"], ["$run:b4"], ["$run:b5"]], ['', '', '']),
        'my_bulk_exec with a failing second statement', 'nosuchtable');
    same(my($fae, $ctx, 'SELECT name FROM item WHERE name IN (?, ?) ORDER BY name', ["$run:b3", "$run:b5"])->rows,
        [["$run:b3"]], 'rows after the failed my_bulk_exec (first kept, third never ran)');
}

function checkMerge(Counted $fae, $ctx, string $run): void
{
    $r = my($fae, $ctx, 'INSERT INTO item (name, attrs) VALUES (?, ?)', ["$run:m", '{"a":1,"n":{"x":1}}']);
    $where = "id = {$r->lastInsertId}";
    $m = $fae->my_merge($ctx, MY, 'item', 0, $where, "$run:merge", 'attrs', '{"b":"two","n":{"y":2}}');
    same($m->ok, true, 'my_merge: ok');
    $want = ['a' => 1, 'b' => 'two', 'n' => ['x' => 1, 'y' => 2]];
    same(json_decode($m->newVal, true), $want, "my_merge: newVal $m->newVal");
    $stored = my($fae, $ctx, "SELECT attrs FROM item WHERE $where")->rows[0][0];
    same(json_decode($stored, true), $want, "column after my_merge: $stored");

    same($fae->my_merge($ctx, MY, 'item', 0, 'id = 0', "$run:merge", 'attrs', '{"b":1}')->ok, false, 'my_merge of no row: ok');
    expectThrow(TApplicationException::class, fn () => $fae->my_merge($ctx, MY, 'item', 0, $where, "$run:merge", 'attrs', '[1, 2]'),
        'my_merge of a JSON array', 'JSON object');
    expectThrow(TApplicationException::class, fn () => $fae->my_merge($ctx, MY, 'item', 0, $where, "$run:merge", 'attrs = 1; --', '{}'),
        'my_merge with SQL in the column name');
    same(json_decode(my($fae, $ctx, "SELECT attrs FROM item WHERE $where")->rows[0][0], true), $want, 'column after the refused merges');
}

function checkMysqlErrors(Counted $fae, $ctx, string $a): void
{
    expectThrow(TApplicationException::class, fn () => my($fae, $ctx, 'SELEC * FROM item'), 'my_query with an unknown first keyword', 'SELEC is not allowed');
    expectThrow(TApplicationException::class, fn () => my($fae, $ctx, 'SELECT * FORM item'), 'my_query with a syntax error', 'SQL syntax');
    expectThrow(TApplicationException::class, fn () => my($fae, $ctx, 'SET NAMES gbk'), 'my_query changing the pooled session', 'SET is not allowed');
    same(my($fae, $ctx, 'SELECT 1 + 1 AS two')->rows, [['2']], 'my_query after the syntax error');
    expectThrow(TApplicationException::class, fn () => my($fae, $ctx, 'SELECT nope FROM item'), 'my_query of an unknown column', 'nope');
    expectThrow(TApplicationException::class, fn () => my($fae, $ctx, 'INSERT INTO item (name) VALUES (?)', [$a]), 'my_query of a duplicate key', 'Duplicate entry');
    // More user errors than the breaker's failure threshold (5): they must
    // not open it.
    for ($i = 0; $i < 6; $i++) {
        expectThrow(TApplicationException::class, fn () => my($fae, $ctx, "SELECT FROM WHERE $i"), "syntax error $i", 'SQL syntax');
    }
    same(my($fae, $ctx, 'SELECT name FROM item WHERE name = ?', [$a])->rows, [[$a]], 'my_query after nine user errors');
    expectThrow(TApplicationException::class, fn () => $fae->my_query($ctx, 'nope', 'item', 0, 'SELECT 1', [], ''), 'my_query on an unknown pool', 'nope');
}

function checkMongo(Counted $fae, $ctx, string $run): void
{
    $t = 'players_' . str_replace(['-', ':'], '_', $run);
    $first = ['_id' => 1, 'name' => 'alice', 'score' => 10, 'big' => 1 << 40, 'ratio' => 0.25, 'ok' => true, 'nothing' => null,
        'tags' => ['a', 'b'], 'nested' => ['k' => 'v', 'deep' => ['x' => 1]], 'bin' => new MongoDB\BSON\Binary("\x00\xff\x80", MongoDB\BSON\Binary::TYPE_GENERIC)];
    same($fae->mg_insert($ctx, MG, $t, 0, bson($first)), true, 'mg_insert');
    $more = [];
    foreach ([2 => 'bob', 3 => 'carol', 4 => 'dave', 5 => 'erin'] as $id => $name) {
        $more[] = bson(['_id' => $id, 'name' => $name, 'score' => 10 * $id]);
    }
    same($fae->mg_inserts($ctx, MG, $t, 0, $more), true, 'mg_inserts of four documents');

    $got = $fae->mg_find_one($ctx, MG, $t, 0, bson(['_id' => 1]), '');
    same($got, bson($first), 'mg_find_one: the document inserted, byte for byte');
    $doc = unbson($got);
    check($doc['bin'] instanceof MongoDB\BSON\Binary && $doc['bin']->getData() === "\x00\xff\x80", 'mg_find_one: binary field did not round-trip');
    same(unbson($fae->mg_find_one($ctx, MG, $t, 0, bson(['name' => 'carol']), bson(['name' => 1, '_id' => 0]))), ['name' => 'carol'], 'mg_find_one with fields');
    expectThrow(TMongoNotFound::class, fn () => $fae->mg_find_one($ctx, MG, $t, 0, bson(['_id' => 99]), ''), 'mg_find_one of a missing document');
    same(unbson($fae->mg_find_id($ctx, MG, $t, 0, bson(['_id' => 4])))['name'], 'dave', 'mg_find_id');

    $page = $fae->mg_find_all($ctx, MG, $t, 0, bson(['score' => ['$gte' => 20]]), '', 2, 1, ['-score']);
    same(ids($page), [4, 3], 'mg_find_all score >= 20, orderBy -score, skip 1, limit 2');
    same(ids($fae->mg_find_all($ctx, MG, $t, 0, '', '', 0, 0, ['name'])), [1, 2, 3, 4, 5], 'mg_find_all of everything by name');
    same($fae->mg_find_all($ctx, MG, $t, 0, bson(['score' => ['$gt' => 1000]]), '', 0, 0, []), [], 'mg_find_all matching nothing');
    same($fae->mg_count($ctx, MG, $t, 0, bson(['score' => ['$gte' => 20]])), 4, 'mg_count score >= 20');
    same($fae->mg_count($ctx, MG, $t, 7, ''), 5, 'mg_count of all with shardId 7 (legacy: one database)');

    same($fae->mg_update($ctx, MG, $t, 0, bson(['_id' => 2]), bson(['$set' => ['score' => 21]])), true, 'mg_update');
    same(unbson($fae->mg_find_one($ctx, MG, $t, 0, bson(['_id' => 2]), ''))['score'], 21, 'score after mg_update');
    same($fae->mg_update($ctx, MG, $t, 0, bson(['_id' => 99]), bson(['$set' => ['score' => 1]])), false, 'mg_update of no document');
    same($fae->mg_update_id($ctx, MG, $t, 0, 3, bson(['$inc' => ['score' => 1]])), true, 'mg_update_id');
    same(unbson($fae->mg_find_one($ctx, MG, $t, 0, bson(['_id' => 3]), ''))['score'], 31, 'score after mg_update_id');

    same($fae->mg_upsert($ctx, MG, $t, 0, bson(['_id' => 6]), bson(['$set' => ['name' => 'frank', 'score' => 60]])), true, 'mg_upsert of a new document');
    same($fae->mg_upsert($ctx, MG, $t, 0, bson(['_id' => 6]), bson(['$set' => ['score' => 61]])), true, 'mg_upsert of a present document');
    same(unbson($fae->mg_find_one($ctx, MG, $t, 0, bson(['_id' => 6]), '')), ['_id' => 6, 'name' => 'frank', 'score' => 61], 'document after two mg_upserts');
    same($fae->mg_count($ctx, MG, $t, 0, ''), 6, 'mg_count after mg_upsert');
    same($fae->mg_delete($ctx, MG, $t, 0, bson(['_id' => 6])), true, 'mg_delete');
    same($fae->mg_delete($ctx, MG, $t, 0, bson(['_id' => 6])), false, 'mg_delete of a missing document');
    same($fae->mg_count($ctx, MG, $t, 0, ''), 5, 'mg_count after mg_delete');

    $inc = bson(['$inc' => ['score' => 5]]);
    $new = unbson($fae->mg_find_and_modify($ctx, MG, $t, 0, bson(['_id' => 1]), $inc, false, false, true));
    same([$new['_id'], $new['score']], [1, 15], 'mg_find_and_modify with returnNew');
    $old = unbson($fae->mg_find_and_modify($ctx, MG, $t, 0, bson(['_id' => 1]), $inc, false, false, false));
    same($old['score'], 15, 'mg_find_and_modify without returnNew: the document before');
    same(unbson($fae->mg_find_one($ctx, MG, $t, 0, bson(['_id' => 1]), ''))['score'], 20, 'score after two mg_find_and_modify');
    // mg_find_and_modify declares no exception: a miss answers an empty
    // document, as the original did.
    same(unbson($fae->mg_find_and_modify($ctx, MG, $t, 0, bson(['_id' => 99]), $inc, false, false, true)), [],
        'mg_find_and_modify of a missing document: an empty document');

    expectThrow(TApplicationException::class, fn () => $fae->mg_insert($ctx, MG, $t, 0, bson(['_id' => 2])), 'mg_insert of a duplicate _id');
    expectThrow(TApplicationException::class, fn () => $fae->mg_find_one($ctx, MG, $t, 0, 'not bson', ''), 'mg_find_one with a query that is not BSON');
    expectThrow(TApplicationException::class, fn () => $fae->mg_count($ctx, 'nope', $t, 0, ''), 'mg_count on an unknown pool', 'nope');
    same($fae->mg_count($ctx, MG, $t, 0, ''), 5, 'mg_count after the errors');
}

function checkZk(Counted $fae, $ctx, string $run): void
{
    same($fae->zk_create($ctx, "/$run/a", 'data a'), true, 'zk_create (parents too)');
    same($fae->zk_create($ctx, "/$run/a", 'again'), false, 'zk_create of a present node');
    same($fae->zk_create($ctx, "/$run/b", ''), true, 'zk_create of a sibling');
    same($fae->zk_children($ctx, "/$run"), ['a', 'b'], 'zk_children');
    same($fae->zk_children($ctx, "/$run/a"), [], 'zk_children of a leaf');
    expectThrow(TApplicationException::class, fn () => $fae->zk_del($ctx, "/$run"), 'zk_del of a node with children');
    same($fae->zk_del($ctx, "/$run/a"), true, 'zk_del');
    same($fae->zk_del($ctx, "/$run/a"), false, 'zk_del of a missing node');
    same($fae->zk_children($ctx, "/$run"), ['b'], 'zk_children after zk_del');
    same($fae->zk_del($ctx, "/$run/b") && $fae->zk_del($ctx, "/$run"), true, 'zk_del of the rest');
    expectThrow(TApplicationException::class, fn () => $fae->zk_children($ctx, "/$run"), 'zk_children of a deleted node');

    expectThrow(TApplicationException::class, fn () => $fae->zk_create($ctx, "/$run/../escape", 'x'), 'zk_create with ..', '..');
    expectThrow(TApplicationException::class, fn () => $fae->zk_children($ctx, '/..'), 'zk_children of /..', '..');
    expectThrow(TApplicationException::class, fn () => $fae->zk_create($ctx, "$run/relative", 'x'), 'zk_create of a relative path');
    same($fae->zk_create($ctx, "/$run-keep", "kept by $run"), true, 'zk_create of the node left for the Go test');
}

try {
    $fae = new Counted(new FaeClient($addr, $transport, 10000));
    $ctx = FaeClient::context('backends_php.check', 7);
    checkMemcache($fae, $ctx, $run);
    checkMysql($fae, $ctx, $run);
    checkMongo($fae, $ctx, $run);
    checkZk($fae, $ctx, $run);
    same($fae->noop(12345), 12345, 'noop at the end, on the same connection');
    $fae->close();
} catch (Throwable $e) {
    check(false, 'unexpected ' . get_class($e) . ': ' . $e->getMessage() . ' at ' . basename($e->getFile()) . ':' . $e->getLine());
}
ksort($fae->tally);
echo "$label: $checks checks ok\n";
echo 'calls ', json_encode($fae->tally), "\n";
