<?php
// Reconnect is the transport under a FaeClient's buffered or framed
// transport: it passes every byte to the socket of the current connection
// (a whole call per flush, so it costs a call little), and opens a new
// connection once, and sends the call again, when the one it had turns out
// dead — the "TSocket: Could not write" of a reused socket that faed (its
// idle_timeout, a restart) closed meanwhile (THRIFT-826 in the original's
// notes). When a call may be sent again:
//   - before it is sent: the socket already reads as closed by faed;
//   - when sending it failed: faed never had the whole call, so it ran none
//     of it;
//   - when its answer could not be read (not a timeout) and no byte of it
//     came: faed may have run it, so only for calls that are safe to run
//     twice (self::REPEATABLE).
// At most once per call: a second failure is the caller's.

namespace fae;

use Thrift\Exception\TTransportException;
use Thrift\Transport\TTransport;

final class Reconnect extends TTransport
{
    /** Calls that give the same outcome when run twice. */
    private const REPEATABLE = [
        'ping', 'noop', 'id_decode', 'lc_get', 'lc_set', 'lc_del', 'kvdb_get', 'kvdb_set', 'kvdb_del',
        'mc_get', 'mc_set', 'mc_delete', 'my_evict', 'mg_find_one', 'mg_find_all', 'mg_find_id',
        'mg_count', 'zk_children',
    ];

    private TTransport $socket;    // the connection's, which answers closedByPeer()
    private string $call = '';     // the call being written, or the last one sent
    private bool $sent = false;    // $call was flushed
    private bool $answered = false; // a byte of its answer was read
    private bool $retried = false; // this call was sent again already

    /** Reconnections made, for tests and logs. */
    public int $reconnects = 0;

    /**
     * @param \Closure $dial   returns the TTransport socket of a new, open
     *                         connection, with a closedByPeer() method;
     *                         throws TTransportException
     * @param bool     $framed the calls come framed (TFramedTransport above)
     */
    public function __construct(private \Closure $dial, private bool $framed = false)
    {
        $this->socket = ($this->dial)();
    }

    public function isOpen()
    {
        return $this->socket->isOpen();
    }

    public function open()
    {
        $this->socket->open();
    }

    public function close()
    {
        $this->socket->close();
    }

    public function write($buf)
    {
        if ($this->sent) { // the first bytes of the next call
            $this->call = '';
            $this->sent = $this->answered = $this->retried = false;
        }
        if ($this->call === '' && $this->socket->closedByPeer()) {
            $this->redial();
        }
        $this->call .= $buf;
        try {
            $this->socket->write($buf);
        } catch (TTransportException $e) {
            $this->sendAgain($e); // the whole call so far: faed had none of it
        }
    }

    public function flush()
    {
        try {
            $this->socket->flush();
        } catch (TTransportException $e) {
            $this->sendAgain($e);
        }
        $this->sent = true;
    }

    public function read($len)
    {
        try {
            $data = $this->socket->read($len);
        } catch (TTransportException $e) {
            if ($this->answered || self::timedOut($e) || !in_array($this->method(), self::REPEATABLE, true)) {
                throw $e;
            }
            $this->sendAgain($e);
            $data = $this->socket->read($len);
        }
        $this->answered = true;
        return $data;
    }

    /** Sends the call again on a new connection, once; else rethrows $e. */
    private function sendAgain(TTransportException $e): void
    {
        if ($this->retried) {
            throw $e;
        }
        $this->retried = true;
        $this->redial();
        $this->socket->write($this->call);
        $this->socket->flush();
    }

    private function redial(): void
    {
        $this->socket->close();
        $this->socket = ($this->dial)();
        $this->reconnects++;
    }

    /**
     * Reports whether an idle client stream, between an answer and the next
     * call, has anything to read. faed sends nothing unasked, so anything
     * means it closed the connection (the end of the stream, or a reset); a
     * stray byte would garble the next answer anyway.
     *
     * @param resource $stream
     */
    public static function closedWhenIdle($stream): bool
    {
        $read = [$stream];
        $none = null;
        return @stream_select($read, $none, $none, 0) !== 0;
    }

    private static function timedOut(TTransportException $e): bool
    {
        // Thrift's TSocket reports a timeout with code UNKNOWN; only its
        // message tells.
        return $e->getCode() === TTransportException::TIMED_OUT || str_contains($e->getMessage(), 'timed out');
    }

    /** The method name of the call, strict binary protocol or not; '' if unreadable. */
    private function method(): string
    {
        $call = $this->framed ? substr($this->call, 4) : $this->call;
        if (strlen($call) < 8) {
            return '';
        }
        $first = unpack('N', $call)[1];
        if ($first & 0x80000000) { // strict: version and type, then the name
            $len = unpack('N', substr($call, 4, 4))[1];
            return substr($call, 8, min($len, 64));
        }
        return substr($call, 4, min($first, 64)); // old: the name, then the type
    }
}
