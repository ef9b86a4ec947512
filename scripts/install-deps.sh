#!/usr/bin/env bash
# Installs what `make test` needs and this machine lacks: the Thrift compiler,
# PHP and Python Thrift libraries, the real servers the integration tests
# start (memcached, MariaDB, ZooKeeper), and Chromium for the dashboard test. Debian packages only; runs apt-get
# update first, and only when something is missing.
set -euo pipefail

packages=(
  thrift-compiler   # make gen, and the stale-code test
  php-cli php-thrift # the PHP client test
  php-memcache      # checks memcache placement against the PHP extension; make bench's PHP-direct runs
  php-mysql         # make bench: PHP to MariaDB directly (mysqli), beside PHP through faed
  python3-thrift    # the Python client test (for /usr/bin/python3)
  php-mongodb       # BSON for the PHP backends test
  memcached mariadb-server zookeeper
  chromium          # the dashboard test (headless)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: everything is installed"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
