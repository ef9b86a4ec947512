<?php
// One PHP process of faebench -php: PHP-FPM's pattern against a backend,
// straight or through faed. Each request connects, makes three calls and
// closes, over and over, until END.
//
// Usage: php backend.php MODE ADDR START END SIZE ARG...
//   mysql    ADDR=tcp:host:port  ARG=database   mysqli as root, 3 primary-key SELECTs
//   my_query ADDR=faed's address ARG=pool       the same SELECTs as faed my_query calls
//   memcache ADDR=tcp:host:port  ARG=key        the memcache extension, 3 gets
//   mc_get   ADDR=faed's address ARG=pool key   the same gets as faed mc_get calls
//
// START and END are unix times (seconds, fractional): a call is measured if
// it starts at or after START and ends by END. Every value read must be SIZE
// bytes. The process prints one JSON line: calls measured, their latencies
// in microseconds (a request's first call includes its connect), errors and
// the first of them.

require __DIR__ . '/../../../idl/php/FaeClient.php';

use fae\FaeClient;

const ROWS = 1000; // rows 1..ROWS of table kv, see scripts/bench.sh
const PAUSE_US = 1000; // after a failed request, so a dead backend is not spun on

if ($argc < 7) {
    fwrite(STDERR, "usage: php backend.php MODE ADDR START END SIZE ARG...\n");
    exit(2);
}
[$mode, $addr] = [$argv[1], $argv[2]];
[$start, $end, $size] = [(float) $argv[3], (float) $argv[4], (int) $argv[5]];
$args = array_slice($argv, 6);

// tcpAddr splits "tcp:host:port".
function tcpAddr(string $addr): array
{
    if (!preg_match('/^tcp:(.+):(\d+)$/', $addr, $m)) {
        throw new InvalidArgumentException("want tcp:host:port, got \"$addr\"");
    }
    return [$m[1], (int) $m[2]];
}

// checkSize throws unless $v is a string of $size bytes.
function checkSize(mixed $v, int $size): void
{
    if (!is_string($v) || strlen($v) !== $size) {
        $got = is_string($v) ? strlen($v) . ' bytes' : gettype($v);
        throw new UnexpectedValueException("value of $got, stored $size bytes");
    }
}

// A request is [open, call, close]: open returns the connection, call makes
// one call on it, close ends it.
$request = match ($mode) {
    'mysql' => (function () use ($addr, $args, $size) {
        [$host, $port] = tcpAddr($addr);
        mysqli_report(MYSQLI_REPORT_ERROR | MYSQLI_REPORT_STRICT);
        return [
            fn () => new mysqli($host, 'root', '', $args[0], $port),
            function (mysqli $db) use ($size) {
                $row = $db->query('SELECT v FROM kv WHERE id = ' . mt_rand(1, ROWS))->fetch_row();
                checkSize($row[0] ?? null, $size);
            },
            fn (mysqli $db) => $db->close(),
        ];
    })(),
    'my_query' => (function () use ($addr, $args, $size) {
        $ctx = FaeClient::context('faebench.my_query');
        return [
            fn () => new FaeClient($addr),
            function (FaeClient $fae) use ($ctx, $args, $size) {
                $r = $fae->my_query($ctx, $args[0], '', 0, 'SELECT v FROM kv WHERE id = ?', [(string) mt_rand(1, ROWS)], '');
                checkSize($r->rows[0][0] ?? null, $size);
            },
            fn (FaeClient $fae) => $fae->close(),
        ];
    })(),
    'memcache' => (function () use ($addr, $args, $size) {
        [$host, $port] = tcpAddr($addr);
        return [
            function () use ($host, $port) {
                $mc = new Memcache();
                if (!$mc->connect($host, $port)) {
                    throw new RuntimeException("memcache connect to $host:$port failed");
                }
                return $mc;
            },
            fn (Memcache $mc) => checkSize($mc->get($args[0]), $size),
            fn (Memcache $mc) => $mc->close(),
        ];
    })(),
    'mc_get' => (function () use ($addr, $args, $size) {
        $ctx = FaeClient::context('faebench.mc_get');
        return [
            fn () => new FaeClient($addr),
            fn (FaeClient $fae) => checkSize($fae->mc_get($ctx, $args[0], $args[1])->data, $size),
            fn (FaeClient $fae) => $fae->close(),
        ];
    })(),
    default => (function () use ($mode) {
        fwrite(STDERR, "backend.php: mode \"$mode\": want mysql, my_query, memcache or mc_get\n");
        exit(2);
    })(),
};
[$open, $call, $close] = $request;

$lat = [];
$errors = 0;
$firstError = '';
while (($now = microtime(true)) < $end) {
    $measure = $now >= $start;
    try {
        $t0 = hrtime(true);
        $conn = $open();
        for ($i = 0; $i < 3; $i++) {
            $call($conn);
            $t1 = hrtime(true);
            if ($measure && microtime(true) <= $end) {
                $lat[] = intdiv($t1 - $t0, 1000);
            }
            $t0 = $t1;
        }
        $close($conn);
    } catch (Throwable $e) {
        if ($measure) {
            $errors++;
            $firstError = $firstError ?: get_class($e) . ': ' . $e->getMessage();
        }
        usleep(PAUSE_US);
    }
    $conn = null;
}
echo json_encode(['calls' => count($lat), 'latencies_us' => $lat, 'errors' => $errors, 'first_error' => $firstError]), "\n";
