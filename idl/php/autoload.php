<?php
// Class autoloader for faed's PHP client. One require of this file (or of
// FaeClient.php, which requires it) makes three namespaces loadable:
//
//   Thrift\    Apache Thrift's PHP library. Debian's php-thrift installs it
//              flat under /usr/lib/php (Thrift\Transport\TSocket lives in
//              /usr/lib/php/Transport/TSocket.php), a layout its own
//              ThriftClassLoader does not map. Set the environment variable
//              FAE_THRIFT_LIB to use another copy (e.g. a Composer
//              vendor/apache/thrift/lib/php/lib).
//   fun\rpc\   the stubs generated from idl/fun.thrift (idl/gen-php).
//   fae\       this helper (FaeClient, UnixSocket).
//
// A class none of the three holds is left to the next autoloader, so this
// one coexists with Composer's.

namespace fae;

(static function (): void {
    $thrift = getenv('FAE_THRIFT_LIB');
    $roots = [
        'Thrift\\' => ($thrift !== false && $thrift !== '' ? $thrift : '/usr/lib/php') . '/',
        'fun\\rpc\\' => dirname(__DIR__) . '/gen-php/fun/rpc/',
        'fae\\' => __DIR__ . '/',
    ];
    spl_autoload_register(static function (string $class) use ($roots): void {
        foreach ($roots as $prefix => $dir) {
            if (strncmp($class, $prefix, strlen($prefix)) !== 0) {
                continue;
            }
            $file = $dir . str_replace('\\', '/', substr($class, strlen($prefix))) . '.php';
            if (is_file($file)) {
                require $file;
            }
            return;
        }
    });
})();
