<?php
// FaeClient is a connection to faed for PHP code, built on the stubs
// generated from idl/fun.thrift and Apache Thrift's PHP library.
//
//   require '/path/to/faed/idl/php/FaeClient.php';   // the only require needed
//   use fae\FaeClient;
//
//   $fae = new FaeClient('unix:/run/faed/faed.sock');  // or 'tcp:127.0.0.1:9001'
//   $ctx = FaeClient::context('user.show', $uid);
//   try {
//       $profile = $fae->lc_get($ctx, "profile:$uid");
//   } catch (\fun\rpc\TCacheMissed $miss) {
//       $profile = load_profile($uid);
//       $fae->lc_set($ctx, "profile:$uid", $profile);
//   }
//   $id = $fae->id_next($ctx);
//   $fae->close();
//
// A FaeClient is a fun\rpc\FunServantClient: call the IDL methods on it.
// Answers come in three kinds:
//   - a declared exception (fun\rpc\TCacheMissed, TMongoNotFound, ...) is a
//     normal answer;
//   - Thrift\Exception\TApplicationException means the call failed in faed
//     (bad input, backend down); its message names the call and the cause,
//     and the connection stays usable;
//   - Thrift\Exception\TTransportException means the connection is gone
//     (cannot connect, timed out, closed): make a new FaeClient.
// A connection faed closed while it sat idle (idle_timeout, a restart) is
// opened again once, and the call sent again, where that is safe: see
// Reconnect. $fae->reconnects() counts those.
// A FaeClient serves one caller at a time; it is not for sharing between
// processes (open it after fork).

namespace fae;

require_once __DIR__ . '/autoload.php';

use fun\rpc\Context;
use fun\rpc\FunServantClient;
use Thrift\Exception\TException;
use Thrift\Exception\TTransportException;
use Thrift\Protocol\TBinaryProtocol;
use Thrift\Transport\TBufferedTransport;
use Thrift\Transport\TFramedTransport;

final class FaeClient extends FunServantClient
{
    private Reconnect $transport;

    /**
     * Connects to faed; throws TTransportException if it cannot.
     *
     * @param string $addr             "tcp:host:port" or "unix:/path/to/faed.sock"
     * @param string $transport        "buffered" (the Thrift PHP default) or "framed";
     *                                 faed tells them apart on every connection
     * @param int    $timeoutMs        how long one read or write may block
     * @param int    $connectTimeoutMs how long connecting may take
     */
    public function __construct(
        string $addr,
        string $transport = 'buffered',
        int $timeoutMs = 5000,
        int $connectTimeoutMs = 1000,
    ) {
        if ($transport !== 'buffered' && $transport !== 'framed') {
            throw new \InvalidArgumentException("fae: transport must be \"buffered\" or \"framed\", got \"$transport\"");
        }
        $framed = $transport === 'framed';
        $this->transport = new Reconnect(
            static fn (): UnixSocket|TcpSocket => self::connect($addr, $timeoutMs, $connectTimeoutMs),
            $framed,
        );
        // Buffered above Reconnect, not below it: the protocol's many small
        // reads and writes of a call then cost one method call each, not three.
        $conn = $framed ? new TFramedTransport($this->transport) : new TBufferedTransport($this->transport, 8192, 8192);
        parent::__construct(new TBinaryProtocol($conn));
    }

    /** Connections opened again after faed closed one (see Reconnect). */
    public function reconnects(): int
    {
        return $this->transport->reconnects;
    }

    public function __destruct()
    {
        $this->close();
    }

    /** Closes the connection; safe to call twice. */
    public function close(): void
    {
        if ($this->transport->isOpen()) {
            $this->transport->close();
        }
    }

    /**
     * Builds the Context every call but noop takes.
     *
     * @param string   $reason what the caller is doing, e.g. "controller.action"
     * @param int      $uid    the end user's id, 0 if none
     * @param int|null $rid    the request id; null means requestId()
     */
    public static function context(string $reason, int $uid = 0, ?int $rid = null): Context
    {
        return new Context(['rid' => $rid ?? self::requestId(), 'reason' => $reason, 'uid' => $uid]);
    }

    /**
     * Returns a random id chosen once per PHP request, so that faed's logs
     * tie together every call one web request made. PHP-FPM resets it
     * between requests; a long-running CLI worker should pass its own rid
     * per job instead.
     */
    public static function requestId(): int
    {
        static $rid = null;
        return $rid ??= random_int(1, PHP_INT_MAX);
    }

    /** Opens the socket $addr names. */
    private static function connect(string $addr, int $timeoutMs, int $connectTimeoutMs): UnixSocket|TcpSocket
    {
        [$network, $rest] = explode(':', $addr, 2) + [1 => ''];
        $colon = strrpos($rest, ':');
        if ($network === 'unix' && $rest !== '') {
            $socket = new UnixSocket($rest, $connectTimeoutMs, $timeoutMs);
            $socket->open();
            return $socket;
        }
        if ($network === 'tcp' && $colon !== false) {
            return self::connectTCP(substr($rest, 0, $colon), (int) substr($rest, $colon + 1), $timeoutMs, $connectTimeoutMs);
        }
        throw new \InvalidArgumentException("fae: address must be \"tcp:host:port\" or \"unix:/path\", got \"$addr\"");
    }

    /** Opens Thrift's own TSocket, the transport PHP code has always used. */
    private static function connectTCP(string $host, int $port, int $timeoutMs, int $connectTimeoutMs): TcpSocket
    {
        $socket = new TcpSocket($host, $port);
        $socket->setSendTimeout($connectTimeoutMs); // TSocket::open waits this long
        try {
            $socket->open();
        } catch (TTransportException $e) {
            throw $e;
        } catch (TException $e) {
            // TSocket reports a refused connection as a plain TException.
            throw new TTransportException($e->getMessage(), TTransportException::NOT_OPEN);
        }
        $socket->setSendTimeout($timeoutMs);
        $socket->setRecvTimeout($timeoutMs);
        return $socket;
    }
}
