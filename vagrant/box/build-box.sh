#!/bin/sh
# Build the dcos-provision/debian12-lxc vagrant-lxc box (Debian 12 "bookworm") with debootstrap.
# Recipe: the local lab notes (shared/LOCAL-LAB.md §3, beside the checkout). Why debootstrap and not lxc-create: a clean rootfs without
# /etc/hostname, so every container is named after its vagrant-lxc container_name.
# Usage (as root):  sh vagrant/box/build-box.sh [OUTPUT.box]
#   EXTRA_PKGS="a b"  sh build-box.sh     # override the package list (default: packages.txt)
#   NET=networkd      sh build-box.sh     # systemd-networkd instead of ifupdown
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
BOX=${1:-debian12-lxc.box}
case "$BOX" in /*) ;; *) BOX="$PWD/$BOX" ;; esac
SUITE=${SUITE:-bookworm}
# mirrors: default to the ones this host's apt already uses
host_uris() { sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/*.sources 2>/dev/null;
              awk '$1=="deb"{print $2}' /etc/apt/sources.list 2>/dev/null; }
MIRROR=${MIRROR:-$(host_uris | grep -v security | head -n1)}
SECURITY_MIRROR=${SECURITY_MIRROR:-$(host_uris | grep security | head -n1)}
[ -n "$MIRROR" ] || { echo "set MIRROR (no Debian mirror found in the host's apt sources)" >&2; exit 1; }
# the one list of baked-in packages (comments and blank lines dropped)
DEFAULT_PKGS=$(sed -e 's/#.*//' "$HERE/packages.txt" | tr -s ' \t\n' ' ')
EXTRA_PKGS=${EXTRA_PKGS-$DEFAULT_PKGS}
NET=${NET:-ifupdown}                      # ifupdown | networkd
WORK=$(mktemp -d /tmp/lxcbox.XXXXXX)
R="$WORK/rootfs"
VAGRANT_PUB=$(ls /usr/share/rubygems-integration/all/gems/vagrant-*/keys/vagrant.pub \
               /usr/share/vagrant/keys/vagrant.pub 2>/dev/null | head -n1)
[ -n "$VAGRANT_PUB" ] || { echo "vagrant.pub not found" >&2; exit 1; }
cleanup() { umount "$R/proc" 2>/dev/null || true; mountpoint -q "$R/proc" || rm -rf "$WORK"; }
trap cleanup EXIT
case "$NET" in
  ifupdown) NETPKGS=ifupdown,isc-dhcp-client ;;
  networkd) NETPKGS=systemd-resolved,dbus ;;   # resolved needs a dbus-system-bus
  *) echo "NET must be ifupdown or networkd" >&2; exit 1 ;;
esac
debootstrap --variant=minbase \
  --include=systemd-sysv,$NETPKGS,iproute2,netbase,openssh-server,sudo,python3,python3-apt,netcat-openbsd,ca-certificates,less \
  "$SUITE" "$R" "$MIRROR"
# --- network: DHCP on eth0 (LXC attaches eth0 to lxcbr0)
if [ "$NET" = networkd ]; then
  printf '[Match]\nName=eth0\n\n[Network]\nDHCP=ipv4\n' > "$R/etc/systemd/network/eth0.network"
  chroot "$R" systemctl enable systemd-networkd.service systemd-resolved.service
  # single-label names (other containers) via dnsmasq on lxcbr0, not LLMNR (which returns fe80:: addresses)
  mkdir -p "$R/etc/systemd/resolved.conf.d"
  printf '[Resolve]\nLLMNR=no\nMulticastDNS=no\nResolveUnicastSingleLabel=yes\n' > "$R/etc/systemd/resolved.conf.d/lxc.conf"
else
  printf 'auto lo\niface lo inet loopback\n\nauto eth0\niface eth0 inet dhcp\n' > "$R/etc/network/interfaces"
fi
# --- apt sources (main + updates + security)
cat > "$R/etc/apt/sources.list" <<SOURCES
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
SOURCES
[ -z "$SECURITY_MIRROR" ] || echo "deb $SECURITY_MIRROR $SUITE-security main" >> "$R/etc/apt/sources.list"
# --- identity: no /etc/hostname (LXC's lxc.uts.name is kept); fresh machine-id per container
rm -f "$R/etc/hostname"
printf '127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n' > "$R/etc/hosts"
: > "$R/etc/machine-id"; rm -f "$R/var/lib/dbus/machine-id"
# --- systemd in a container: no udev, boot to multi-user
ln -sf /dev/null "$R/etc/systemd/system/systemd-udevd.service"
ln -sf /dev/null "$R/etc/systemd/system/udev.service"
ln -sf /lib/systemd/system/multi-user.target "$R/etc/systemd/system/default.target"
# --- vagrant user: NOPASSWD sudo + Vagrant's insecure public key (replaced on first `vagrant up`)
chroot "$R" id vagrant >/dev/null 2>&1 || chroot "$R" useradd -m -s /bin/bash vagrant
echo 'vagrant ALL=(ALL) NOPASSWD:ALL' > "$R/etc/sudoers.d/vagrant"
chmod 0440 "$R/etc/sudoers.d/vagrant"
install -d -m 0700 "$R/home/vagrant/.ssh"
install -m 0600 "$VAGRANT_PUB" "$R/home/vagrant/.ssh/authorized_keys"
chroot "$R" chown -R vagrant:vagrant /home/vagrant/.ssh
# --- updates (+ baked-in packages); policy-rc.d keeps services from starting in the chroot
printf '#!/bin/sh\nexit 101\n' > "$R/usr/sbin/policy-rc.d"; chmod +x "$R/usr/sbin/policy-rc.d"
mount -t proc proc "$R/proc"
mv "$R/etc/resolv.conf" "$R/etc/resolv.conf.box" 2>/dev/null || true
cp /etc/resolv.conf "$R/etc/resolv.conf"
chroot "$R" apt-get update
chroot "$R" env DEBIAN_FRONTEND=noninteractive apt-get -y dist-upgrade
# shellcheck disable=SC2086
[ -z "$EXTRA_PKGS" ] || chroot "$R" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y --no-install-recommends $EXTRA_PKGS
rm -f "$R/etc/resolv.conf"; mv "$R/etc/resolv.conf.box" "$R/etc/resolv.conf" 2>/dev/null || true
umount "$R/proc"
rm -f "$R/usr/sbin/policy-rc.d"
# --- services that a role starts stay off at boot: a container whose role does not run them
# (ZooKeeper on an agent, Prometheus off the masters) starts no JVM or server it will not use.
for svc in zookeeper prometheus prometheus-node-exporter; do
  chroot "$R" systemctl disable "$svc" >/dev/null 2>&1 || true
done
# --- ssh host keys: generated on each container's first boot (not shared via the box)
rm -f "$R"/etc/ssh/ssh_host_*
mkdir -p "$R/etc/systemd/system/ssh.service.d"
printf '[Service]\nExecStartPre=\nExecStartPre=/usr/bin/ssh-keygen -A\nExecStartPre=/usr/sbin/sshd -t\n' \
  > "$R/etc/systemd/system/ssh.service.d/hostkeys.conf"
# --- shrink
chroot "$R" apt-get clean
rm -rf "$R"/var/lib/apt/lists/* "$R"/var/cache/apt/*.bin
[ -L "$R/etc/resolv.conf" ] || : > "$R/etc/resolv.conf"   # written by the DHCP client at boot
# --- package: metadata.json + lxc-config + lxc-template + rootfs.tar.gz (tar of ./rootfs).
# The box's own lxc-template (vagrant-lxc uses it instead of its default) unpacks the rootfs
# once per host and gives each container an overlay on it (see the template's header).
cd "$WORK"
tar --numeric-owner -czf rootfs.tar.gz ./rootfs
printf '{"provider":"lxc","version":"1.0.0"}\n' > metadata.json
echo 'lxc.include = /usr/share/lxc/config/debian.common.conf' > lxc-config
install -m 0755 "$HERE/lxc-template" lxc-template
tar -czf "$BOX" metadata.json lxc-config lxc-template rootfs.tar.gz
ls -lh "$BOX"
