#!/bin/sh
# The whole test suite, from a fresh Debian 12 machine: lab setup, a host ZooKeeper for the
# stand-in tests, linters, unit tests, then the end-to-end tests on LXC containers.
# Usage: scripts/test.sh [pytest args...]   (as root, or as a user with sudo: it re-runs itself)
#   SKIP_E2E=1 runs everything but e2e; E2E_WORKERS=N e2e modules at once (default 2).
# Exit status: non-zero on any failure, and when pytest collects no test (exit code 5).
set -eu
REPO=$(cd "$(dirname "$0")/.." && pwd)
case "${1:-}" in -h|--help) sed -n '2,6p' "$0"; exit 0 ;; esac
. "$REPO/scripts/lib/as-root.sh"
ensure_root test.sh \
  "SKIP_E2E,CI,DCOS_PROVISION_MESOS_TARBALL,DCOS_TEST_ZOOKEEPER,DCOS_TEST_ARTIFACTS,BOX_NAME,STAMP_DIR,FORCE_BOX,E2E_WORKERS" "$0" "$@"
cd "$REPO"
say() { printf '\n== %s\n' "$*"; }

say "lab setup (packages, venv with dev extras, lxcbr0, box, the lab's Mesos)"
sh scripts/lab-setup.sh --dev

say "host ZooKeeper for the stand-in tests (127.0.0.1:2181)"
bash scripts/host-zookeeper.sh start

PY=.venv/bin
say "ruff"
$PY/ruff check provisioner tests benchmarks
$PY/ruff format --check provisioner tests benchmarks

say "mypy"
$PY/mypy provisioner

run_pytest() {
  # pytest's exit code 5 means "no tests collected": a suite that ran nothing has failed.
  set +e
  $PY/pytest "$@"
  rc=$?
  set -e
  if [ "$rc" = 5 ]; then echo "pytest collected no tests for: $*" >&2; exit 1; fi
  [ "$rc" = 0 ] || exit "$rc"
}

say "unit, stand-in and lint tests (not e2e)"
run_pytest -m "not e2e" -p no:cacheprovider "$@"

if [ "${SKIP_E2E:-0}" != 1 ]; then
  if [ "$(cat .lab/mesos.kind 2>/dev/null)" = real ]; then
    mesos="real Apache Mesos"
  else
    mesos="the Mesos TEST STAND-IN, not Apache Mesos (see the lab set-up above)"
  fi
  say "end-to-end tests on LXC containers (marker e2e), on $mesos"
  DCOS_TEST_ARTIFACTS=${DCOS_TEST_ARTIFACTS:-$REPO/.artifacts}
  export DCOS_TEST_ARTIFACTS
  echo "browser screenshots and page dumps of the e2e tests: $DCOS_TEST_ARTIFACTS"
  # Two workers, one test module each at a time (module-scoped clusters stay on one worker):
  # the suite mostly waits on containers and Ansible, so two clusters at once on two cores
  # nearly halve its time. E2E_WORKERS=0 runs it serially.
  run_pytest -m e2e -p no:cacheprovider --timeout=2400 -v --durations=40 \
    -n "${E2E_WORKERS:-2}" --dist loadfile "$@"
fi
say "all tests passed"
