<?php
// The PHP side of the soak: PHP-FPM's pattern against a faed cluster, each
// request a new connection to a node picked at random, a few calls, close,
// over every servant the soak configures (idgen, lcache, memcache, mysql).
//
// Usage: php soak.php STOPFILE POOL_MC POOL_MY tcp:HOST:PORT [...]
//
// Prints "ready" once its first request is served, then loops until
// STOPFILE exists and prints one JSON line: the number of calls and every
// failure (op, key, node, error, unix time), as the Go and Python loads do.

require __DIR__ . '/../../../idl/php/FaeClient.php';

use fae\FaeClient;
use fun\rpc\TCacheMissed;
use fun\rpc\TMemcacheData;

const PAUSE_US = 3000; // keeps the load bounded on a 2-core machine

if ($argc < 5) {
    fwrite(STDERR, "usage: php soak.php STOPFILE POOL_MC POOL_MY tcp:HOST:PORT [...]\n");
    exit(2);
}
[$stop, $mcPool, $myPool] = array_slice($argv, 1, 3);
$addrs = array_slice($argv, 4);
$calls = 0;
$failures = [];
$ready = false;
$own = 'php-soak-' . getmypid() . '-';

// call runs one call, counting it and recording its failure.
function call(string $op, string $key, string $addr, callable $fn): void
{
    global $calls, $failures;
    $calls++;
    try {
        $err = $fn();
    } catch (TCacheMissed $e) {
        $err = null; // a miss is an answer
    } catch (Throwable $e) {
        $err = get_class($e) . ': ' . $e->getMessage();
    }
    if ($err !== null) {
        $failures[] = ['op' => $op, 'key' => $key, 'node' => $addr, 'error' => $err, 'time' => microtime(true)];
    }
}

for ($seq = 0; !file_exists($stop); $seq++) {
    $addr = $addrs[mt_rand(0, count($addrs) - 1)];
    $ctx = FaeClient::context('soak_php.request');
    $key = $own . ($seq % 100);
    try {
        $fae = new FaeClient($addr, 'buffered', 20000);
    } catch (Throwable $e) {
        $calls++;
        $failures[] = ['op' => 'connect', 'key' => '', 'node' => $addr, 'error' => $e->getMessage(), 'time' => microtime(true)];
        usleep(PAUSE_US);
        continue;
    }
    call('id_next', '', $addr, fn () => $fae->id_next($ctx) > 0 ? null : 'id_next answered no id');
    switch ($seq % 3) {
        case 0:
            call('mc_set', $key, $addr, fn () => $fae->mc_set($ctx, $mcPool, $key, new TMemcacheData(['data' => "v$seq", 'flags' => 0]), 0) === true ? null : 'mc_set answered false');
            call('mc_get', $key, $addr, fn () => $fae->mc_get($ctx, $mcPool, $key) !== null ? null : 'mc_get answered nothing');
            break;
        case 1:
            call('my_query', '', $addr, function () use ($fae, $ctx, $myPool) {
                $r = $fae->my_query($ctx, $myPool, '', 0, 'SELECT 1', [], '');
                return count($r->rows) === 1 ? null : 'my_query SELECT 1 answered ' . count($r->rows) . ' rows';
            });
            break;
        default:
            call('lc_set', $key, $addr, fn () => $fae->lc_set($ctx, $key, "lc$seq") === true ? null : 'lc_set answered false');
            call('lc_get', $key, $addr, fn () => $fae->lc_get($ctx, $key) !== null ? null : 'lc_get answered nothing');
    }
    $fae->close();
    if (!$ready) {
        echo "ready\n";
        $ready = true;
    }
    usleep(PAUSE_US);
}
echo json_encode(['calls' => $calls, 'failures' => $failures, 'acked' => new stdClass(), 'uncertain' => []]), "\n";
