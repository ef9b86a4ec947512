<?php
// UnixSocket is a Thrift transport over a unix domain socket. Apache
// Thrift's PHP TSocket opens only host:port, so PHP code on the same host
// as faed (the common layout: one faed per PHP server) needs this one.

namespace fae;

use Thrift\Exception\TTransportException;
use Thrift\Transport\TTransport;

final class UnixSocket extends TTransport
{
    /** @var resource|null the stream, null until open() and after close() */
    private $stream = null;

    /**
     * @param string $path             the socket file, e.g. /run/faed/faed.sock
     * @param int    $connectTimeoutMs how long open() waits to connect
     * @param int    $timeoutMs        how long one read or write may block
     */
    public function __construct(
        private string $path,
        private int $connectTimeoutMs = 1000,
        private int $timeoutMs = 5000,
    ) {
    }

    public function isOpen()
    {
        return is_resource($this->stream);
    }

    public function open()
    {
        if ($this->isOpen()) {
            throw new TTransportException("fae: unix:{$this->path} is already open", TTransportException::ALREADY_OPEN);
        }
        $stream = @stream_socket_client('unix://' . $this->path, $errno, $errstr, $this->connectTimeoutMs / 1000);
        if ($stream === false) {
            throw new TTransportException("fae: cannot connect to unix:{$this->path}: $errstr", TTransportException::NOT_OPEN);
        }
        stream_set_timeout($stream, intdiv($this->timeoutMs, 1000), ($this->timeoutMs % 1000) * 1000);
        $this->stream = $stream;
    }

    public function close()
    {
        if ($this->isOpen()) {
            fclose($this->stream);
        }
        $this->stream = null;
    }

    /** Reports whether faed closed the idle connection (Reconnect::closedWhenIdle). */
    public function closedByPeer(): bool
    {
        return !$this->isOpen() || Reconnect::closedWhenIdle($this->stream);
    }

    /** Returns 1 to $len bytes, as soon as any arrive. */
    public function read($len)
    {
        $data = $this->isOpen() ? @fread($this->stream, $len) : false;
        if ($data === false || $data === '') {
            $this->fail("read $len bytes");
        }
        return $data;
    }

    public function write($buf)
    {
        while ($buf !== '') {
            $n = $this->isOpen() ? @fwrite($this->stream, $buf) : false;
            if ($n === false || $n === 0) {
                $this->fail('write ' . strlen($buf) . ' bytes');
            }
            $buf = substr($buf, $n);
        }
    }

    /** Throws the exception that says why $what did not happen. */
    private function fail(string $what): never
    {
        $where = "unix:{$this->path}";
        if (!$this->isOpen()) {
            throw new TTransportException("fae: cannot $what: $where is not open", TTransportException::NOT_OPEN);
        }
        if (stream_get_meta_data($this->stream)['timed_out']) {
            throw new TTransportException("fae: timed out after {$this->timeoutMs} ms trying to $what on $where", TTransportException::TIMED_OUT);
        }
        if (feof($this->stream)) {
            throw new TTransportException("fae: cannot $what: $where closed by faed", TTransportException::END_OF_FILE);
        }
        throw new TTransportException("fae: cannot $what on $where", TTransportException::UNKNOWN);
    }
}
