<?php
// TcpSocket is Thrift's own TSocket, the transport PHP code has always used
// for TCP, able to tell that faed closed it while it sat idle.

namespace fae;

use Thrift\Transport\TSocket;

final class TcpSocket extends TSocket
{
    /** Reports whether faed closed the idle connection (Reconnect::closedWhenIdle). */
    public function closedByPeer(): bool
    {
        return !$this->isOpen() || Reconnect::closedWhenIdle($this->handle_);
    }
}
