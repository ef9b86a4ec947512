<?php
// Calls faed through the PHP stubs generated from idl/fun.thrift and
// idl/php/FaeClient.php, checking every answer.
//
// Usage: php client.php tcp:HOST:PORT|unix:/PATH buffered|framed [WORKER_ID]
//
// Prints "php <network> <transport>: N checks ok" and exits 0, or prints the
// first failed check and exits 1. WORKER_ID, when given, is the worker id
// faed runs with, checked in decoded ids.

require __DIR__ . '/../../../idl/php/FaeClient.php';

use fae\FaeClient;
use fun\rpc\TCacheMissed;
use Thrift\Exception\TApplicationException;

const ID_EPOCH_MS = 1388834974657;

if ($argc < 3) {
    fwrite(STDERR, "usage: php client.php tcp:HOST:PORT|unix:/PATH buffered|framed [WORKER_ID]\n");
    exit(2);
}
[, $addr, $transport] = $argv;
$worker = isset($argv[3]) ? (int) $argv[3] : null;
$label = 'php ' . explode(':', $addr, 2)[0] . " $transport";
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

// expectThrow checks that $call throws $class with $mention in its message.
function expectThrow(string $class, callable $call, string $what, string $mention = ''): void
{
    try {
        $got = $call();
    } catch (Throwable $e) {
        check($e instanceof $class, "$what: want $class, got " . get_class($e) . ': ' . $e->getMessage());
        check(str_contains($e->getMessage(), $mention), "$what: message \"{$e->getMessage()}\" lacks \"$mention\"");
        return;
    }
    check(false, "$what: want $class, got the answer " . var_export($got, true));
}

try {
    $fae = new FaeClient($addr, $transport, 5000);
    $ctx = FaeClient::context('client_php.check', 7);
    check($ctx->rid > 0 && $ctx->rid === FaeClient::context('again')->rid, "context: rid {$ctx->rid} not one positive id per request");
    $run = 'php-' . getmypid() . "-$transport-";

    $pong = $fae->ping($ctx);
    // The original's format: ver:<version>, build:<build>, myid:<worker id>, uptime:<duration>.
    $ok = preg_match('/^ver:\S+, build:\S+, myid:(\d+), uptime:\S+$/', $pong, $m) === 1;
    check($ok && ($worker === null || (int) $m[1] === $worker), "ping = \"$pong\", want \"ver:…, build:…, myid:" . ($worker ?? '…') . ', uptime:…"');
    check($fae->noop(-12345) === -12345, 'noop(-12345) did not echo');

    $id = $fae->id_next($ctx);
    check(is_int($id) && $id > 0, "id_next = $id, want a positive id");
    $tagged = $fae->id_next_with_tag($ctx, 3);
    $parts = $fae->id_decode($ctx, $tagged);
    check(is_array($parts) && count($parts) === 4, 'id_decode: want [ms, tag, worker, seq], got ' . json_encode($parts));
    [$ms, $tag, $w, $seq] = $parts;
    check($tag === 3, "id_decode($tagged): tag $tag, want 3");
    check($w === (($tagged >> 12) & 31) && ($worker === null || $w === $worker), "id_decode($tagged): worker $w, want " . ($worker ?? 'bits 12-16 of the id'));
    check($seq === ($tagged & 4095), "id_decode($tagged): sequence $seq, want " . ($tagged & 4095));
    check($ms === ($tagged >> 22) + ID_EPOCH_MS, "id_decode($tagged): ms $ms, want " . (($tagged >> 22) + ID_EPOCH_MS));
    check(abs($ms - (int) (microtime(true) * 1000)) < 5000, "id_decode($tagged): ms $ms is not within 5s of now");

    $value = "v\x00\xff\x80 fae";
    check($fae->lc_set($ctx, "{$run}lc", $value) === true, 'lc_set: want true');
    check($fae->lc_get($ctx, "{$run}lc") === $value, 'lc_get: value did not round-trip byte for byte');
    $fae->lc_del($ctx, "{$run}lc");
    expectThrow(TCacheMissed::class, fn () => $fae->lc_get($ctx, "{$run}lc"), 'lc_get after lc_del', 'lc_get');
    check($fae->lc_set($ctx, str_pad($run, 250, 'k'), 'x') === true, 'lc_set with a 250-byte key: want true');

    check($fae->lock($ctx, 'client_php', "{$run}lock") === true, 'first lock: want true');
    check($fae->lock($ctx, 'client_php', "{$run}lock") === false, 'second lock on a held key: want false');
    $fae->unlock($ctx, 'client_php', "{$run}lock");
    check($fae->lock($ctx, 'client_php', "{$run}lock") === true, 'lock after unlock: want true');
    $fae->unlock($ctx, 'client_php', "{$run}lock");

    check($fae->kvdb_set($ctx, "{$run}kv", $value) === true, 'kvdb_set: want true');
    check($fae->kvdb_get($ctx, "{$run}kv") === $value, 'kvdb_get: value did not round-trip byte for byte');
    check($fae->kvdb_del($ctx, "{$run}kv") === true, 'kvdb_del of a present key: want true');
    expectThrow(TCacheMissed::class, fn () => $fae->kvdb_get($ctx, "{$run}kv"), 'kvdb_get after kvdb_del', 'kvdb_get');

    // Failures answer a TApplicationException and leave the connection usable.
    expectThrow(TApplicationException::class, fn () => $fae->mc_get($ctx, 'default', 'k'), 'mc_get without memcache', 'servant memcache is not configured');
    check($fae->noop(1) === 1, 'noop after the mc_get error');
    expectThrow(TApplicationException::class, fn () => $fae->id_next_with_tag($ctx, -1), 'id_next_with_tag(-1)', 'id_next_with_tag');
    check($fae->noop(2) === 2, 'noop after the bad tag');
    expectThrow(TApplicationException::class, fn () => $fae->lc_set($ctx, str_pad($run, 251, 'k'), 'x'), 'lc_set with a 251-byte key', 'lc_set');
    check($fae->noop(3) === 3, 'noop after the long key');

    $fae->close();
} catch (Throwable $e) {
    check(false, 'unexpected ' . get_class($e) . ': ' . $e->getMessage() . ' at ' . basename($e->getFile()) . ':' . $e->getLine());
}
echo "$label: $checks checks ok\n";
