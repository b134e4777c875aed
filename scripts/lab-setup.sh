#!/bin/sh
# Prepare this host as the local lab (LXC + vagrant-lxc; the lab recipe is shared/LOCAL-LAB.md beside the checkout).
# Idempotent and fast when everything is present: every step checks before it changes anything.
# Usage:  scripts/lab-setup.sh [--dev]     (as root, or as a user with sudo: it re-runs itself)
#   --dev   install the package with its development extras (pytest, ruff, ansible-lint, ...)
# Env: DCOS_PROVISION_MESOS_TARBALL=PATH  a real Mesos prefix-tree tarball for the lab (else the
#        newest build in ../shared/mesos/, else the Mesos test stand-in): it lands in .lab/mesos.tar.gz
#      BOX_NAME (default dcos-provision/debian12-lxc), STAMP_DIR (default /var/lib/dcos-provision),
#      FORCE_BOX=1 rebuilds the box even when its recipe did not change.
set -eu

REPO=$(cd "$(dirname "$0")/.." && pwd)
BOX_NAME=${BOX_NAME:-dcos-provision/debian12-lxc}
STAMP_DIR=${STAMP_DIR:-/var/lib/dcos-provision}
LAB_MESOS_VERSION=1.12.0   # the mesos.version examples/local.yaml names (the stand-in reports it)
BOX_STAMP="$STAMP_DIR/box.sha256"
for arg in "$@"; do
  case "$arg" in -h|--help) sed -n '2,9p' "$0"; exit 0 ;; esac
done
# The containers are privileged: root is needed (re-run through sudo when it exists).
. "$REPO/scripts/lib/as-root.sh"
ensure_root lab-setup DCOS_PROVISION_MESOS_TARBALL,BOX_NAME,STAMP_DIR,FORCE_BOX "$0" "$@"

DEV=0
for arg in "$@"; do
  case "$arg" in
    --dev) DEV=1 ;;
    *) echo "lab-setup: unknown argument: $arg (expected --dev)" >&2; exit 2 ;;
  esac
done

say() { printf 'lab-setup: %s\n' "$*"; }
die() { printf 'lab-setup: error: %s\n' "$*" >&2; exit 1; }

# --- 1. OS packages (only the missing ones)
PACKAGES="lxc lxc-templates debootstrap bridge-utils dnsmasq-base iptables vagrant vagrant-lxc \
sudo python3-venv zookeeper netcat-openbsd"
# --dev: headless Chromium for the e2e test that opens the Mesos and Prometheus UIs (with
# libnss3-tools' pk12util/certutil to give it the operator's certificate), tcpdump for the e2e
# test that captures the cluster's traffic (host only, never in the box).
[ "$DEV" = 1 ] && PACKAGES="$PACKAGES chromium libnss3-tools tcpdump"
missing=""
for pkg in $PACKAGES; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
  say "installing packages:$missing"
  apt-get update -qq
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing ||
    die "apt-get install failed"
else
  say "packages present"
fi

# --- 2. Python venv with the package installed editable
# The stamp records what was installed (pyproject.toml hash + extras); reinstall only on change.
VENV="$REPO/.venv"
EXTRAS=""; [ "$DEV" = 1 ] && EXTRAS="[dev]"
want="$(sha256sum "$REPO/pyproject.toml" | cut -d' ' -f1) $EXTRAS"
have=$(cat "$VENV/.dcos-provision-installed" 2>/dev/null || true)
if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV"
  python3 -m venv "$VENV" || die "python3 -m venv failed (is python3-venv installed?)"
fi
# a --dev install also satisfies a plain one
if [ "$have" = "$want" ] || { [ "$DEV" = 0 ] && [ "$have" = "${want}[dev]" ]; }; then
  say "venv up to date ($VENV)"
else
  say "pip install -e '.$EXTRAS' into $VENV"
  pip_log="$VENV/pip-install.log"
  if ! (cd "$REPO" && "$VENV/bin/pip" install -q -e ".$EXTRAS") >"$pip_log" 2>&1; then
    tail -n 20 "$pip_log" >&2
    die "pip install -e '.$EXTRAS' failed; full log: $pip_log"
  fi
  echo "$want" > "$VENV/.dcos-provision-installed"
fi

# --- 3. LXC bridge lxcbr0 (DHCP + DNS + NAT through lxc-net)
# dnsmasq pings an address before it offers it and drops the DISCOVER meanwhile: every new
# container waited 3 s for its second DISCOVER. Nothing but dnsmasq hands out addresses on
# lxcbr0, so the lab turns the ping off (lxc-net's LXC_DHCP_PING, read at its start).
LXC_NET_DEFAULTS=/etc/default/lxc-net
if ! grep -qx 'LXC_DHCP_PING="false"' "$LXC_NET_DEFAULTS" 2>/dev/null; then
  say "lxc-net: LXC_DHCP_PING=\"false\" in $LXC_NET_DEFAULTS (no 3 s ping before each lease)"
  sed -i '/^LXC_DHCP_PING=/d' "$LXC_NET_DEFAULTS" 2>/dev/null || true
  echo 'LXC_DHCP_PING="false"' >> "$LXC_NET_DEFAULTS"
fi
if pgrep -f -- '--interface=lxcbr0' >/dev/null 2>&1 &&
   ! pgrep -f -- '--no-ping.*--interface=lxcbr0' >/dev/null 2>&1; then
  if [ -z "$(lxc-ls --running 2>/dev/null | tr -d '[:space:]')" ]; then
    say "lxc-net: restarting its dnsmasq without the ping (no container running)"
    /usr/libexec/lxc/lxc-net stop || true
  else
    say "lxc-net: containers are running; its dnsmasq keeps the ping until lxc-net restarts"
  fi
fi
bridge_serving() {
  # an lxcbr0 with its address and a dnsmasq on it works, even if /run/lxc/network_up is gone
  ip -4 addr show dev lxcbr0 2>/dev/null | grep -q 'inet ' &&
    pgrep -f -- '--interface=lxcbr0' >/dev/null 2>&1
}
if bridge_serving; then
  say "lxcbr0 up (dnsmasq serving DHCP/DNS)"
else
  if [ -f /run/lxc/network_up ]; then
    # lxc-net's flag survives when its dnsmasq was killed (e.g. every process of an earlier
    # session ended): without DHCP new containers get no address. Restart the whole lxc-net,
    # but never under running containers (that would pull their bridge away).
    running=$(lxc-ls --running 2>/dev/null | tr -d '[:space:]')
    [ -z "$running" ] || die "lxcbr0 has no dnsmasq but containers are running ($running); \
stop them or run /usr/libexec/lxc/lxc-net stop && /usr/libexec/lxc/lxc-net start"
    say "lxcbr0 is marked up but its dnsmasq is gone; restarting lxc-net"
    /usr/libexec/lxc/lxc-net stop || true
  fi
  say "starting lxcbr0 (lxc-net start)"
  /usr/libexec/lxc/lxc-net start || die "lxc-net start failed"
  bridge_serving || die "lxc-net started but no dnsmasq serves lxcbr0"
fi

# --- 4. The box: rebuild only when missing or when its recipe (script + package list) changed
BOX_DIR="$REPO/vagrant/box"
recipe=$(cat "$BOX_DIR/build-box.sh" "$BOX_DIR/packages.txt" "$BOX_DIR/lxc-template" |
  sha256sum | cut -d' ' -f1)
stamped=$(cat "$BOX_STAMP" 2>/dev/null || true)
listed=0
vagrant box list 2>/dev/null | awk '{print $1}' | grep -qxF "$BOX_NAME" && listed=1
if [ "$listed" = 1 ] && [ "$recipe" = "$stamped" ] && [ "${FORCE_BOX:-0}" != 1 ]; then
  say "box $BOX_NAME up to date"
else
  if [ "$listed" = 0 ]; then reason="missing"; else reason="recipe changed"; fi
  [ "${FORCE_BOX:-0}" = 1 ] && reason="FORCE_BOX=1"
  say "building box $BOX_NAME ($reason; takes about 5 minutes)"
  mkdir -p "$STAMP_DIR"
  out="$STAMP_DIR/debian12-lxc.box"
  log="$STAMP_DIR/build-box.log"
  start=$(date +%s)
  if ! sh "$BOX_DIR/build-box.sh" "$out" >"$log" 2>&1; then
    tail -n 20 "$log" >&2
    die "box build failed; full log: $log"
  fi
  say "box built in $(( $(date +%s) - start )) s; adding it to vagrant"
  vagrant box add --force --name "$BOX_NAME" "$out" >/dev/null || die "vagrant box add failed"
  echo "$recipe" > "$BOX_STAMP"
  rm -f "$out"
fi
# The box's lxc-template unpacks it once per box into $LXC_BASE/<id> (every
# container is an overlay on that): do it now rather than in the first `up` (step 6 bakes the
# lab's Mesos into a copy of it and removes the bases no container uses any more).
LXC_BASE=/var/lib/dcos-provision/lxc-base   # the template's default
box_lxc_dir="${VAGRANT_HOME:-$HOME/.vagrant.d}/boxes/$(echo "$BOX_NAME" | sed 's|/|-VAGRANTSLASH-|g')/0/lxc"
if [ -x "$box_lxc_dir/lxc-template" ]; then
  DCOS_PROVISION_LXC_BASE_DIR="$LXC_BASE" "$box_lxc_dir/lxc-template" --prepare-base \
    --tarball "$box_lxc_dir/rootfs.tar.gz" || die "unpacking the box's base failed"
fi

# --- 5. Mesos for the lab: .lab/mesos.tar.gz, real Mesos when there is a build (the one named by
# DCOS_PROVISION_MESOS_TARBALL, else the newest in ../shared/mesos/: scripts/lib/lab-mesos.sh),
# else the test stand-in. examples/local.yaml installs whatever is there; .lab/mesos.kind says
# which ("real" | "stand-in").
LAB="$REPO/.lab"
mkdir -p "$LAB"
if [ -f "$REPO/tests/mesos_standin/build.sh" ]; then
  say "building the Mesos test stand-in tarballs"
  (cd "$REPO" && sh tests/mesos_standin/build.sh >/dev/null) || die "tests/mesos_standin/build.sh failed"
  # the lab copy reports the version examples/local.yaml names
  (cd "$REPO" && VERSION=$LAB_MESOS_VERSION DIST="$LAB/standin" sh tests/mesos_standin/build.sh >/dev/null) ||
    die "tests/mesos_standin/build.sh failed"
fi
. "$REPO/scripts/lib/lab-mesos.sh"
prepare_lab_mesos "$REPO" "$LAB" || exit 1

# --- 6. The lab's Mesos baked into the box's base: containers of a spec that installs
# .lab/mesos.tar.gz (examples/local.yaml, the benchmarks) find it unpacked in the prefix with
# role mesos_install's marker, so the role neither copies nor unpacks it (the template's
# comment, 3.; dcos-provision names the tarball and prefix when it creates containers). Then
# remove the bases no container is laid on that neither this box nor an existing tarball would
# give again.
if [ -x "$box_lxc_dir/lxc-template" ]; then
  DCOS_PROVISION_LXC_BASE_DIR="$LXC_BASE" \
    DCOS_PROVISION_BAKE_MESOS_TARBALL="$(cd "$LAB" && pwd -P)/mesos.tar.gz" \
    DCOS_PROVISION_BAKE_MESOS_PREFIX="/opt/mesos-$LAB_MESOS_VERSION" \
    "$box_lxc_dir/lxc-template" --prepare-base --tarball "$box_lxc_dir/rootfs.tar.gz" ||
    die "baking the lab's Mesos into the box's base failed"
fi
base_id() { stat -L -c '%n %s %Y %i' "$1" | sha256sum | cut -c1-16; }   # as the template
mesos_id() { { stat -L -c '%d %i %s %Y' "$1"; echo "$1 $2"; } | sha256sum | cut -c1-16; }
for base in "$LXC_BASE"/*/; do
  [ -d "$base" ] || continue
  base=${base%/}
  grep -qsF "overlay:$base/rootfs:" /var/lib/lxc/*/config && continue
  name=$(basename "$base")
  box_tarball=$(cat "$base/tarball" 2>/dev/null || true)
  if [ -n "$box_tarball" ] && [ -f "$box_tarball" ]; then   # the id the template gives it now
    id=$(base_id "$box_tarball")
    if [ -f "$base/mesos" ]; then
      mesos_tarball=$(sed -n 1p "$base/mesos") mesos_prefix=$(sed -n 2p "$base/mesos")
      [ -f "$mesos_tarball" ] &&
        [ "$name" = "$id-mesos-$(mesos_id "$mesos_tarball" "$mesos_prefix")" ] && continue
    else
      [ "$name" = "$id" ] && continue
    fi
  fi
  say "removing $base (an unpacked base no container uses, of an earlier box or Mesos build)"
  rm -rf "$base"
done

say "done"
