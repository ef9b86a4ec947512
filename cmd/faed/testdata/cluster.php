<?php
// Calls a faed cluster the way PHP sites spread load with the original's
// TSocketPool: every call goes to a node picked at random. Whichever node a
// call reaches, the cluster must answer as one: a value set through one node
// is read through another, a lock taken through one is refused through all.
//
// Usage: php cluster.php tcp:HOST:PORT tcp:HOST:PORT [...]
//
// Prints "php cluster: N checks ok" and exits 0, or prints the first failed
// check (with the nodes that served it and the random seed) and exits 1.

require __DIR__ . '/../../../idl/php/FaeClient.php';

use fae\FaeClient;
use fun\rpc\TCacheMissed;

const KEYS = 200;
const LOCK_ATTEMPTS = 5;

if ($argc < 3) {
    fwrite(STDERR, "usage: php cluster.php tcp:HOST:PORT tcp:HOST:PORT [...]\n");
    exit(2);
}
$addrs = array_slice($argv, 1);
$seed = random_int(1, 1 << 30);
mt_srand($seed);
$checks = 0;

function check(bool $ok, string $what): void
{
    global $checks, $seed;
    if (!$ok) {
        fwrite(STDOUT, "php cluster: FAILED (seed $seed): $what\n");
        exit(1);
    }
    $checks++;
}

// pick returns the index of a random node, other than $not if given.
function pick(int $count, ?int $not = null): int
{
    do {
        $i = mt_rand(0, $count - 1);
    } while ($i === $not);
    return $i;
}

// expectMiss checks that $call throws TCacheMissed; any other exception
// fails the run too.
function expectMiss(callable $call, string $what): void
{
    try {
        $got = $call();
    } catch (TCacheMissed $e) {
        check(true, $what);
        return;
    }
    check(false, "$what: want TCacheMissed, got the answer " . var_export($got, true));
}

try {
    $nodes = array_map(fn ($a) => new FaeClient($a, 'buffered', 20000), $addrs);
    $n = count($nodes);
    $ctx = FaeClient::context('cluster_php.check');
    $run = 'php-' . getmypid() . '-';

    for ($k = 0; $k < KEYS; $k++) {
        $key = "{$run}lc-$k";
        $value = "v$k\x00" . random_bytes(8);
        $a = pick($n);
        $b = pick($n, $a);
        check($nodes[$a]->lc_set($ctx, $key, $value) === true, "lc_set $key through {$addrs[$a]}: want true");
        check($nodes[$b]->lc_get($ctx, $key) === $value, "lc_get $key through {$addrs[$b]} after lc_set through {$addrs[$a]}: value differs");
        $c = pick($n);
        $nodes[$c]->lc_del($ctx, $key);
        $d = pick($n, $c);
        expectMiss(fn () => $nodes[$d]->lc_get($ctx, $key), "lc_get $key through {$addrs[$d]} after lc_del through {$addrs[$c]}");
    }

    for ($k = 0; $k < KEYS; $k++) {
        $key = "{$run}lock-$k";
        $won = [];
        for ($i = 0; $i < LOCK_ATTEMPTS; $i++) {
            $a = pick($n);
            if ($nodes[$a]->lock($ctx, 'cluster_php', $key) === true) {
                $won[] = $addrs[$a];
            }
        }
        check(count($won) === 1, "lock $key: " . count($won) . ' of ' . LOCK_ATTEMPTS . ' attempts through random nodes succeeded, want exactly 1 (won through ' . implode(', ', $won) . ')');
        $a = pick($n);
        $nodes[$a]->unlock($ctx, 'cluster_php', $key);
        $b = pick($n);
        check($nodes[$b]->lock($ctx, 'cluster_php', $key) === true, "lock $key through {$addrs[$b]} after unlock through {$addrs[$a]}: want true");
        $nodes[pick($n)]->unlock($ctx, 'cluster_php', $key);
    }

    for ($k = 0; $k < KEYS; $k++) {
        $key = "{$run}kv-$k";
        $value = "kv$k\x00" . random_bytes(8);
        $a = pick($n);
        $b = pick($n, $a);
        check($nodes[$a]->kvdb_set($ctx, $key, $value) === true, "kvdb_set $key through {$addrs[$a]}: want true");
        check($nodes[$b]->kvdb_get($ctx, $key) === $value, "kvdb_get $key through {$addrs[$b]} after kvdb_set through {$addrs[$a]}: value differs");
        $c = pick($n);
        check($nodes[$c]->kvdb_del($ctx, $key) === true, "kvdb_del $key through {$addrs[$c]}: want true");
        $d = pick($n, $c);
        expectMiss(fn () => $nodes[$d]->kvdb_get($ctx, $key), "kvdb_get $key through {$addrs[$d]} after kvdb_del through {$addrs[$c]}");
    }

    foreach ($nodes as $node) {
        $node->close();
    }
} catch (Throwable $e) {
    check(false, 'unexpected ' . get_class($e) . ': ' . $e->getMessage() . ' at ' . basename($e->getFile()) . ':' . $e->getLine());
}
echo "php cluster: $checks checks ok across " . count($addrs) . " nodes (seed $seed)\n";
