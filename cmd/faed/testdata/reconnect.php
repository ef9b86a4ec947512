<?php
// Checks that the PHP helper opens a connection again, once, when faed
// closed it while it sat idle (THRIFT-826), and only where that is safe.
// faed runs with an idle_timeout below IDLE_MS.
//
// Usage: php reconnect.php tcp:HOST:PORT unix:/PATH IDLE_MS
//
// Prints "php reconnect: N checks ok" and exits 0, or the first failed
// check and exits 1.

require __DIR__ . '/../../../idl/php/FaeClient.php';

use fae\FaeClient;
use fae\Reconnect;
use fun\rpc\FunServantClient;
use Thrift\Exception\TTransportException;
use Thrift\Protocol\TBinaryProtocol;
use Thrift\Transport\TBufferedTransport;
use Thrift\Transport\TSocket;

[, $tcp, $unix, $idleMs] = $argv + [3 => '0'];
$checks = 0;

function check(bool $ok, string $what): void
{
    global $checks;
    if (!$ok) {
        fwrite(STDOUT, "php reconnect: FAILED: $what\n");
        exit(1);
    }
    $checks++;
}

function idle(): void
{
    global $idleMs;
    usleep((int) $idleMs * 1000);
}

$ctx = FaeClient::context('test.reconnect', 7);

// The helper on both listeners: the closed socket is seen before the call
// is sent, so any call goes through, lock included.
foreach (['tcp' => [$tcp, 'buffered'], 'unix' => [$unix, 'buffered'], 'framed' => [$tcp, 'framed']] as $network => [$addr, $kind]) {
    $fae = new FaeClient($addr, $kind);
    check($fae->lc_set($ctx, "rc-$network", 'v1'), "$network: lc_set");
    idle();
    check($fae->lc_get($ctx, "rc-$network") === 'v1', "$network: lc_get after faed closed the idle connection");
    check($fae->reconnects() === 1, "$network: one reconnection, got {$fae->reconnects()}");
    idle();
    check($fae->lock($ctx, "test", "rc-lock-$network") === true, "$network: lock after idle: sent once, granted");
    check($fae->reconnects() === 2, "$network: two reconnections, got {$fae->reconnects()}");
    $fae->close();
}

// Without that check (a socket that never reads as closed), the failure
// shows only once the call is sent: a repeatable call is sent again, one
// that is not fails, and the next call, whose sending fails, goes through.
[, $rest] = explode(':', $tcp, 2);
$colon = strrpos($rest, ':');
$dial = static function () use ($rest, $colon): TSocket {
    $socket = new class (substr($rest, 0, $colon), (int) substr($rest, $colon + 1)) extends TSocket {
        public function closedByPeer(): bool
        {
            return false;
        }
    };
    $socket->open();
    return $socket;
};
$transport = new Reconnect($dial);
$client = new FunServantClient(new TBinaryProtocol(new TBufferedTransport($transport, 8192, 8192)));
check($client->lc_set($ctx, 'rc-blind', 'v2'), 'blind: lc_set');
idle();
check($client->lc_get($ctx, 'rc-blind') === 'v2', 'blind: lc_get sent again after its answer could not be read');
check($transport->reconnects === 1, "blind: one reconnection, got {$transport->reconnects}");
idle();
try {
    $client->id_next($ctx);
    check(false, 'blind: id_next on a closed connection must fail: it may have run');
} catch (TTransportException $e) {
    check(true, 'blind: id_next failed');
}
check($transport->reconnects === 1, "blind: id_next not sent again, got {$transport->reconnects} reconnections");
check($client->id_next($ctx) > 0, 'blind: the next call, whose sending fails, goes through');
check($transport->reconnects === 2, "blind: two reconnections, got {$transport->reconnects}");

echo "php reconnect: $checks checks ok\n";
