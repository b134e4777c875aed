#!/bin/sh
# Build the Mesos test stand-in tarball: dist/mesos-standin-<VERSION>.tar.gz.
#
# The tarball's root is an install prefix (./bin/mesos-master, ./bin/mesos-agent,
# ./lib/mesos-standin/standin/*.py, ./README.md) for the roles' `tarball` install method.
# VERSION (default 1.11.0) is the Mesos version the stand-in reports; DIST (default ./dist) is
# the output directory. The output is byte-for-byte reproducible: sorted entries, fixed mtimes
# and owners, gzip without a timestamp.
# POSIX sh on purpose: callers run it as `sh tests/mesos_standin/build.sh`.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
VERSION=${VERSION:-1.11.0}
case $VERSION in
  "" | *[!0-9A-Za-z.+~-]*)
    echo "build.sh: VERSION must look like 1.11.0, got '$VERSION'" >&2
    exit 2
    ;;
esac

STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
chmod 0755 "$STAGE"
install -d "$STAGE/bin" "$STAGE/lib/mesos-standin/standin"
install -m 0755 "$HERE/bin/mesos-master" "$HERE/bin/mesos-agent" "$STAGE/bin/"
install -m 0644 "$HERE"/standin/*.py "$STAGE/lib/mesos-standin/standin/"
printf '%s\n' "$VERSION" >"$STAGE/lib/mesos-standin/standin/VERSION"
chmod 0644 "$STAGE/lib/mesos-standin/standin/VERSION"
install -m 0644 "$HERE/README.md" "$STAGE/README.md"

DIST=${DIST:-$HERE/dist}
mkdir -p "$DIST"
OUT="$(cd "$DIST" && pwd)/mesos-standin-$VERSION.tar.gz"
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --format=gnu \
  -C "$STAGE" -cf - . | gzip -n -9 >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo "$OUT"
