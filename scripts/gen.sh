#!/usr/bin/env bash
# Regenerates the Thrift stubs from idl/fun.thrift with the Thrift compiler
# (Debian's thrift-compiler, 0.17): Go for the daemon, PHP and Python for
# clients. Usage: scripts/gen.sh [OUTDIR]  (default: idl)
set -euo pipefail
out=${1:-idl}
idl=idl/fun.thrift
for lang in go php py; do
  rm -rf "$out/gen-$lang"
  mkdir -p "$out/gen-$lang"
done
thrift --gen go:skip_remote,package_prefix=faed/idl/gen-go/ -out "$out/gen-go" "$idl"
thrift --gen php -out "$out/gen-php" "$idl"
thrift --gen py -out "$out/gen-py" "$idl"
# The generated top-level py package marker is empty; the fun package has its own.
rm -f "$out/gen-py/__init__.py"
