# Sourced by scripts/lab-setup.sh: which Mesos the lab installs, in .lab/mesos.tar.gz.
#
#   find_mesos_build CHECKOUT
# sets MESOS_BUILD (a tarball path; empty: none) and MESOS_BUILD_FROM (env | shared | none):
#   1. DCOS_PROVISION_MESOS_TARBALL when set (an explicit choice always wins);
#   2. else the newest build in CHECKOUT/../shared/mesos/ (highest version in the file name),
#      an SSL build (mesos-*-ssl-*.tar.gz) when there is one: it behaves like the plain build
#      until TLS is switched on, so it replaces it everywhere;
#   3. else none.
#
#   prepare_lab_mesos CHECKOUT LAB
# puts that build in LAB/mesos.tar.gz (else the stand-in LAB/standin/mesos-standin-1.12.0.tar.gz),
# writes LAB/mesos.kind ("real" | "stand-in") and prints a banner saying which, and for the
# stand-in how to get real Mesos. Returns 1 with a message on stderr when it cannot.

find_mesos_build() {
  MESOS_BUILD="" MESOS_BUILD_FROM=none
  if [ -n "${DCOS_PROVISION_MESOS_TARBALL:-}" ]; then
    MESOS_BUILD=$DCOS_PROVISION_MESOS_TARBALL MESOS_BUILD_FROM=env
    return 0
  fi
  _fmb_dir="$1/../shared/mesos"
  [ -d "$_fmb_dir" ] || return 0
  _fmb_dir=$(cd "$_fmb_dir" && pwd)
  _fmb_pick=$(_newest_build "$_fmb_dir" 'mesos-[0-9]*-ssl-*.tar.gz')
  [ -n "$_fmb_pick" ] || _fmb_pick=$(_newest_build "$_fmb_dir" 'mesos-[0-9]*.tar.gz')
  [ -n "$_fmb_pick" ] || return 0
  MESOS_BUILD="$_fmb_dir/$_fmb_pick" MESOS_BUILD_FROM=shared
}

# The name of the regular file matching PATTERN in DIR with the highest version, or nothing.
_newest_build() {
  for _nb_path in "$1"/$2; do
    if [ -f "$_nb_path" ]; then printf '%s\n' "${_nb_path##*/}"; fi
  done | sort -V | tail -n 1
}

_lab_say() { printf 'lab-setup: %s\n' "$*"; }
_lab_rule() { _lab_say "------------------------------------------------------------------------"; }

# Copy $1 to $2/mesos.tar.gz unless it is there already (atomically).
_lab_copy() {
  cmp -s "$1" "$2/mesos.tar.gz" 2>/dev/null && return 0
  cp "$1" "$2/mesos.tar.gz.tmp" && mv "$2/mesos.tar.gz.tmp" "$2/mesos.tar.gz"
}

prepare_lab_mesos() {
  _plm_lab=$2
  find_mesos_build "$1"
  if [ -n "$MESOS_BUILD" ]; then
    _plm_src=$MESOS_BUILD _plm_what=$MESOS_BUILD
    [ "$MESOS_BUILD_FROM" = env ] && _plm_what="DCOS_PROVISION_MESOS_TARBALL=$MESOS_BUILD"
    if [ ! -f "$_plm_src" ]; then
      printf 'lab-setup: error: %s is not a regular file\n' "$_plm_what" >&2
      return 1
    fi
    if ! tar -tzf "$_plm_src" 2>/dev/null | grep -Eq '^(\./)?s?bin/mesos-master$'; then
      printf 'lab-setup: error: %s is not a Mesos build: no sbin/mesos-master or bin/mesos-master at its root\n' \
        "$_plm_what" >&2
      return 1
    fi
    _lab_copy "$_plm_src" "$_plm_lab" || return 1
    _plm_version=$(tar -tzf "$_plm_src" |
      sed -n 's|^\(\./\)\{0,1\}lib/libmesos-\([0-9][0-9.]*\)\.so$|\2|p' | head -n 1)
    echo real > "$_plm_lab/mesos.kind"
    _lab_rule
    _lab_say "lab Mesos: real Apache Mesos ${_plm_version:-of unknown version} from $_plm_src"
    if [ "$MESOS_BUILD_FROM" = shared ]; then
      _lab_say "  (the newest build beside the checkout; DCOS_PROVISION_MESOS_TARBALL=PATH picks another)"
    fi
    if [ -n "$_plm_version" ] && [ "$_plm_version" != 1.12.0 ]; then
      _lab_say "note: examples/local.yaml says mesos.version 1.12.0; set it to $_plm_version for this build"
    fi
    _lab_rule
    return 0
  fi
  if [ ! -f "$_plm_lab/standin/mesos-standin-1.12.0.tar.gz" ]; then
    printf 'lab-setup: error: no Mesos for the lab: set DCOS_PROVISION_MESOS_TARBALL or keep tests/mesos_standin/\n' >&2
    return 1
  fi
  _lab_copy "$_plm_lab/standin/mesos-standin-1.12.0.tar.gz" "$_plm_lab" || return 1
  echo stand-in > "$_plm_lab/mesos.kind"
  _lab_rule
  _lab_say "lab Mesos: the Mesos TEST STAND-IN, not Apache Mesos (a test fixture; it runs no tasks)"
  _lab_say "  no DCOS_PROVISION_MESOS_TARBALL, and no mesos-*.tar.gz in ../shared/mesos/ beside the checkout"
  _lab_say "  for real Apache Mesos: run it again with DCOS_PROVISION_MESOS_TARBALL=/path/to/mesos.tar.gz"
  _lab_say "  (a prefix-tree build), or use examples/real-mesos.yaml (the AVENTER packages) on a"
  _lab_say "  machine that reaches their repository: docs/lab.md, \"Getting real Mesos\""
  _lab_rule
}
