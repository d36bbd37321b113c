#!/usr/bin/env bash
# Builds the virtual appliance: a GPT disk image that GRUB (i386-pc) boots, with
#   1 bios   GRUB's core image (placed by hand: grub-install cannot map loop devices)
#   2 boot   ext4: boot/grub/grub.cfg = recovery/grub.cfg unchanged, grubenv, the
#            Debian cloud kernel and a busybox initramfs
#   3 rootA  ext4: firmware 7.0.1 (busybox, OpenSSH, upgrade-console, slot init)
#   4 rootB  empty until an upgrade writes it
#   5 data   ext4: etc/appliance (configuration, support keys) and var (state, logs,
#            the next firmware's ISOs in var/lib/upgrade-console/images)
# from Debian packages and this project's release binary, into OUT (default
# target/appliance): disk.img, the kernel package cache, and the keys it made.
#   bash scripts/appliance-image.sh [OUT]      (BIN=path: that build instead of release)
# Runs without root: everything is made with mkfs -d, cpio and dd, nothing mounted.
# Needs: cargo, apt-get (download only), busybox-static, grub-pc-bin, grub2-common,
# gdisk, e2fsprogs, cpio, openssh-server, minisign.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
out=$(realpath -m "${1:-target/appliance}")
version=${APPLIANCE_VERSION:-7.0.1}
# The kernel: the package Debian's cloud metapackage points at now (KERNEL_PACKAGE
# to pin one).
kpkg=${KERNEL_PACKAGE:-$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9].*\)$/\1/p' | head -1)}
[ -n "$kpkg" ] || { echo "appliance-image: cannot find Debian's cloud kernel package (apt-get update?)" >&2; exit 2; }
started=$(date +%s)
for t in busybox sgdisk mkfs.ext4 grub-mkimage grub-editenv cpio minisign sshd b3sum; do
  command -v "$t" >/dev/null || { echo "appliance-image: needs $t (see .ci/packages)" >&2; exit 2; }
done
[ -f /usr/lib/grub/i386-pc/boot.img ] || { echo "appliance-image: needs grub-pc-bin" >&2; exit 2; }
mkdir -p "$out/cache"
work=$(mktemp -d -p "$out" build.XXXXXX)
trap 'rm -rf "$work"' EXIT

# The kernel, from Debian's package (not installed on this machine).
if ! ls "$out"/cache/"$kpkg"_*.deb >/dev/null 2>&1; then
  (cd "$out/cache" && apt-get download "$kpkg" 2>/dev/null) ||
    { echo "appliance-image: apt-get download $kpkg failed" >&2; exit 2; }
fi
dpkg-deb -x "$(ls "$out"/cache/"$kpkg"_*.deb | head -1)" "$work/kernel"
kver=$(ls "$work/kernel/lib/modules")
kmods=$work/kernel/lib/modules/$kver/kernel
ko() { find "$kmods" -name "$1.ko" | head -1; }

# BIN: a build of upgrade-console to put in the image (the tests pass theirs);
# otherwise the release build.
if [ -n "${BIN:-}" ]; then
  bin=$(realpath "$BIN")
else
  cargo build --release -q
  bin=$repo/target/release/upgrade-console
fi

# Copies a dynamically linked program and the libraries it needs into a root.
with_libs() { # ROOT PROGRAM [DEST]
  local root=$1 prog=$2 dest=${3:-$2}
  install -D -m 755 "$prog" "$root$dest"
  ldd "$prog" | grep -o '/[^ ]*' | while read -r lib; do
    [ -f "$root$lib" ] || install -D -m 755 "$lib" "$root$lib"
  done
}

# A firmware slot's root filesystem of VERSION into DIR.
make_slot() { # DIR VERSION
  local r=$1 v=$2
  mkdir -p "$r"/{bin,sbin,usr/bin,usr/sbin,lib/modules,proc,sys,dev,run,tmp,boot,bootpart,data,var,etc/appliance,root,usr/share/upgrade-console/trusted-keys}
  cp /bin/busybox "$r/bin/busybox"
  for a in $(busybox --list); do
    [ "$a" = busybox ] || ln -sf busybox "$r/bin/$a"
  done
  with_libs "$r" "$bin" /usr/bin/upgrade-console
  strip --strip-debug "$r/usr/bin/upgrade-console"
  with_libs "$r" "$(command -v sshd)" /usr/sbin/sshd
  with_libs "$r" "$(command -v ssh-keygen)" /usr/bin/ssh-keygen
  for m in failover net_failover virtio_net; do cp "$(ko $m)" "$r/lib/modules/"; done
  install -m 755 "$repo/appliance/slot-init" "$r/sbin/init"
  echo "$v" > "$r/etc/firmware-version"
  printf 'root:x:0:0:root:/root:/bin/sh\nsshd:x:100:65534:sshd:/run/sshd:/bin/false\n' > "$r/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' > "$r/etc/group"
  cp "$out/keys/vendor.pub" "$r/usr/share/upgrade-console/trusted-keys/vendor.pub"
}

# The vendor's signing key, made once per OUT (no private key is committed).
mkdir -p "$out/keys"
if [ ! -f "$out/keys/vendor.key" ]; then
  minisign -G -W -f -p "$out/keys/vendor.pub" -s "$out/keys/vendor.key" >/dev/null
fi
if [ ! -f "$out/keys/support" ]; then
  ssh-keygen -q -t ed25519 -N '' -C support@vendor -f "$out/keys/support"
fi

# Slot A.
make_slot "$work/rootA" "$version"
mkfs.ext4 -q -F -L rootA -d "$work/rootA" "$work/rootA.img" 96M

# The initramfs: busybox, its init, the disk driver modules.
ir=$work/initramfs
mkdir -p "$ir"/{bin,lib/modules,proc,sys,dev,newroot}
cp /bin/busybox "$ir/bin/busybox"
for a in sh mount umount insmod sed grep sleep mkdir switch_root echo cat reboot; do ln -s busybox "$ir/bin/$a"; done
for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk; do
  cp "$(ko $m)" "$ir/lib/modules/"
done
install -m 755 "$repo/appliance/initramfs-init" "$ir/init"
(cd "$ir" && find . | cpio -o -H newc --quiet | gzip -9) > "$work/initrd.img"

# The boot partition: GRUB's configuration is the project's grub.cfg as it is.
b=$work/boot
mkdir -p "$b/boot/grub"
cp "$repo/recovery/grub.cfg" "$b/boot/grub/grub.cfg"
grub-editenv "$b/boot/grub/grubenv" create
grub-editenv "$b/boot/grub/grubenv" set ORDER="A B" A_OK=1 A_TRY=0 B_OK=0 B_TRY=0
cp "$work/kernel/boot/vmlinuz-$kver" "$b/boot/vmlinuz"
cp "$work/initrd.img" "$b/boot/initrd.img"
mkfs.ext4 -q -F -L boot -O ^has_journal -d "$b" "$work/boot.img" 32M

# The next firmware, NEXT_VERSION (7.3.1): a slot root made the same way, as the
# payload of a signed firmware ISO, with the demo's migration steps; and two failure
# variants (a step that fails in phase 1; one that fails after the irreversible step).
# The ISOs lie in the console's images directory on the data partition, each with its
# published SHA-256 beside it, as an operator would have copied them there.
next=${NEXT_VERSION:-7.3.1}
make_slot "$work/rootNext" "$next"
mkfs.ext4 -q -F -L "root-$next" -d "$work/rootNext" "$work/rootNext.img" 64M
d=$work/data
images=$d/var/lib/upgrade-console/images
mkdir -p "$images"
psha=$(sha256sum "$work/rootNext.img" | cut -d' ' -f1)
pb3=$(b3sum --no-names "$work/rootNext.img")
psize=$(stat -c %s "$work/rootNext.img")
step=$repo/assets/demo-migrations/step.sh
ssha=$(sha256sum "$step" | cut -d' ' -f1)
make_iso() { # NAME FAIL_STEP1 FAIL_STEP2
  local src=$work/iso-$1
  mkdir -p "$src/firmware/migrations"
  cp "$step" "$src/firmware/migrations/step.sh"
  ln "$work/rootNext.img" "$src/firmware/rootfs.img"
  cat > "$src/firmware/manifest.toml" <<TOML
[firmware]
product = "sps"
version = "$next"
kind = "maintenance"
released = "2026-11-01"

[upgrade]
from = ["7.0", "7.0.1"]
min_free_percent = 10
licence_lts = 7

[payload]
file = "firmware/rootfs.img"
size = $psize
sha256 = "$psha"
blake3 = "$pb3"

[[phase1]]
name = "Migrate configuration"
command = ["migrations/step.sh", "Migrate configuration", "5"$2]
weight = 5
irreversible = false

[[phase1]]
name = "Upgrade session database"
command = ["migrations/step.sh", "Upgrade session database", "5"$3]
weight = 5
irreversible = true

[[reminders]]
title = "Desktop player"
text = "Upgrade the Desktop Player on operator workstations."

[programs]
"migrations/step.sh" = "$ssha"
TOML
  minisign -S -s "$out/keys/vendor.key" -m "$src/firmware/manifest.toml" \
    -t "product=sps version=$next" >/dev/null
  xorriso -as mkisofs -quiet -o "$images/$1.iso" -J -R "$src" 2>/dev/null
  (cd "$images" && sha256sum "$1.iso" > "$1.iso.sha256")
}
make_iso "sps-$next" "" ""
make_iso "sps-$next-fails-in-phase1" ', "3"' ""
make_iso "sps-$next-fails-after-point-of-no-return" "" ', "3"'

# The data partition: configuration and state.
mkdir -p "$d/etc/appliance" "$d/var/lib/upgrade-console" "$d/var/log/upgrade-console" "$d/var/lib/appliance"
cp "$repo/appliance/appliance.toml" "$d/etc/appliance/appliance.toml"
cp "$out/keys/support.pub" "$d/etc/appliance/support_keys"
echo '{"alerts":[]}' > "$d/var/lib/appliance/monitor.json"
asha=$(sha256sum "$work/rootA.img" | cut -d' ' -f1)
asize=$(stat -c %s "$work/rootA.img")
cat > "$d/var/lib/upgrade-console/slot-status.json" <<JSON
{"slots": {
  "A": {"state": "good", "version": "$version", "product": "sps", "sha256": "$asha", "size": $asize, "changed": "2026-12-01T00:00:00Z"},
  "B": {"state": "empty", "version": null, "product": null, "sha256": null, "size": null, "changed": null}
}}
JSON
mkfs.ext4 -q -F -L data -d "$d" "$work/data.img" 400M

# The disk: GPT, partitions by name, GRUB's boot code placed by hand.
disk=$work/disk.img
truncate -s 0 "$disk"
truncate -s 640M "$disk"
sgdisk -n1:2048:+1M -t1:ef02 -c1:bios -n2:0:+32M -c2:boot -n3:0:+96M -c3:rootA \
  -n4:0:+96M -c4:rootB -n5:0:+400M -c5:data "$disk" >/dev/null
start() { sgdisk -i "$1" "$disk" | sed -n 's/^First sector: \([0-9]*\).*/\1/p'; }
for p in 2:boot 3:rootA 5:data; do
  dd if="$work/${p#*:}.img" of="$disk" bs=512 seek="$(start "${p%%:*}")" conv=notrunc,sparse status=none
done
grub-mkimage -O i386-pc -o "$work/core.img" -p '(hd0,gpt2)/boot/grub' \
  biosdisk part_gpt ext2 normal configfile linux echo test loadenv search boot
dd if=/usr/lib/grub/i386-pc/boot.img of="$disk" bs=440 count=1 conv=notrunc status=none
dd if="$work/core.img" of="$disk" bs=512 seek=2048 conv=notrunc status=none
python3 - "$disk" <<'PY'
import struct, sys
# boot.img loads core.img's first sector from LBA 2048; that sector's blocklist
# then names the rest (start 2049, sectors - 1), as grub-bios-setup would write.
with open(sys.argv[1], "r+b") as f:
    f.seek(0x5c); f.write(struct.pack("<Q", 2048))
    f.seek(2048 * 512); first = f.read(512)
    core_size = __import__("os").path.getsize(sys.argv[1].replace("disk.img", "core.img"))
    sectors = (core_size + 511) // 512
    f.seek(2048 * 512 + 0x1f4); f.write(struct.pack("<QH", 2049, sectors - 1))
PY
mv "$disk" "$out/disk.img"
cp "$work/rootA.img" "$out/rootA-$version.img"
echo "appliance-image: $out/disk.img (firmware $version in slot A) in $(( $(date +%s) - started )) s"
