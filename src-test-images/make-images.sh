#!/usr/bin/env bash
# Regenerates the reference QED images of this directory with QEMU (qemu-img, qemu-io) and writes manifest.tsv.
#
# Every image is built from deterministic patterns (`write -P 0xNN`, `write -z`), checked with `qemu-img check`,
# and stored gzip-compressed (`gzip -n`, so no name or time stamp) as NAME.qed.gz. The manifest gives, per image,
# its virtual size, geometry and the SHA-256 of its full guest content as `qemu-img convert -O raw` gives it.
#
# Usage: src-test-images/make-images.sh     (needs qemu-img, qemu-io, gzip, sha256sum, od, dd)
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

for tool in qemu-img qemu-io gzip sha256sum od dd; do
  command -v "$tool" >/dev/null || { echo "make-images.sh: $tool is required" >&2; exit 1; }
done

KiB=1024
MiB=$((1024 * KiB))

# create NAME SIZE [qemu-img -o options]: a fresh image in the work directory.
create() {
  local name=$1 size=$2 opts=${3:-}
  rm -f "$work/$name.qed"
  if [ -n "$opts" ]; then
    qemu-img create -q -f qed -o "$opts" "$work/$name.qed" "$size"
  else
    qemu-img create -q -f qed "$work/$name.qed" "$size"
  fi
}

# io NAME COMMAND...: runs each qemu-io command on the image, in order, in one session.
io() {
  local name=$1
  shift
  local args=()
  for c in "$@"; do args+=(-c "$c"); done
  qemu-io -f qed "${args[@]}" "$work/$name.qed" >/dev/null
}

# le32 FILE OFFSET VALUE / le64 FILE OFFSET VALUE: overwrite a little-endian integer in place.
le32() { printf "$(printf '%08x' "$3" | sed -E 's/(..)(..)(..)(..)/\\x\4\\x\3\\x\2\\x\1/')" \
  | dd of="$1" bs=1 seek="$2" conv=notrunc status=none; }
le64() { le32 "$1" "$2" $(($3 & 0xffffffff)); le32 "$1" $(($2 + 4)) $(($3 >> 32)); }

# u32 FILE OFFSET: a little-endian u32 of the file.
u32() { od -An -tu4 -j "$2" -N4 "$1" | tr -d ' '; }

# ------------------------------------------------------------------------------------------------------ images

# Virtual sizes stay small (the tests hash every guest byte, twice when QEMU is there), so L2-table boundaries
# are crossed in the smaller geometries, where one L2 table spans a few MiB.

# default: qemu-img defaults (64 KiB clusters, table_size 4); sub-sector unaligned writes, a run of contiguous
# clusters, a rewrite in place, and the last cluster of the disk.
create default $((8 * MiB))
io default \
  'write -P 0x11 0 64k' \
  'write -P 0x22 100000 170000' \
  'write -P 0x33 1048577 3' \
  'write -P 0x44 4000 96' \
  'write -P 0x55 8323072 65536'

# cs4k: 4 KiB clusters, table_size 4 (2048 entries, one L2 table spans 8 MiB): data across the L2 boundary at
# 8 MiB, an L2 table holding only zero clusters (16 MiB..24 MiB), and the last cluster of the disk.
create cs4k $((28 * MiB)) cluster_size=4096
io cs4k \
  'write -P 0x01 0 4k' \
  'write -P 0x02 5000 20000' \
  'write -P 0x03 8382464 8192' \
  'write -P 0x04 8388000 1200' \
  'write -z 16m 64k' \
  'write -P 0x05 29356032 4096'

# ts2: 16 KiB clusters, table_size 2 (4096 entries, one L2 table spans 64 MiB), across the 64 MiB boundary.
create ts2 $((72 * MiB)) cluster_size=16384,table_size=2
io ts2 \
  'write -P 0x21 16384 16384' \
  'write -P 0x22 67100672 32768' \
  'write -P 0x23 75481088 16384'

# ts8: 4 KiB clusters, table_size 8 (4096 entries, one L2 table spans 16 MiB), across the 16 MiB and 32 MiB
# boundaries, and the last byte of the disk.
create ts8 $((40 * MiB)) cluster_size=4096,table_size=8
io ts8 \
  'write -P 0x81 16773120 16384' \
  'write -P 0x82 33550336 8192' \
  'write -P 0x83 41943039 1'

# ts16: 8 KiB clusters, table_size 16 (16384 entries, one L2 table spans 128 MiB), across the 128 MiB boundary.
create ts16 $((136 * MiB)) cluster_size=8192,table_size=16
io ts16 \
  'write -P 0x91 0 1' \
  'write -P 0x92 134213632 8192' \
  'write -P 0x93 142598144 8192'

# cs2m: 2 MiB clusters with table_size 2 (the smallest table QEMU 7.2 opens; 4 MiB tables): a 12 MiB file with
# one data cluster and a zero cluster in the last cluster of the disk.
create cs2m $((8 * MiB)) cluster_size=2097152,table_size=2
io cs2m \
  'write -P 0xc1 1048576 1048576' \
  'write -z 6291456 2097152'

# unaligned: 1000000 bytes rounded up by qemu-img to 1000448, not a multiple of the 64 KiB cluster; data in the
# last, partial cluster up to the last byte.
create unaligned 1000000
io unaligned \
  'write -P 0xa1 983040 17408' \
  'write -P 0xa2 1000447 1'

# empty: virtual size 0.
create empty 0

# zero: zero clusters (L2 entry 1) on unallocated clusters and over allocated ones, a partial zero write inside
# an allocated cluster, and data after them.
create zero $((8 * MiB))
io zero \
  'write -P 0xd1 0 256k' \
  'write -z 64k 128k' \
  'write -z 1m 192k' \
  'write -z 200000 1000' \
  'write -P 0xd2 2m 4096'

# header2: header_size 2, made by hand (QEMU only creates header_size 1). From a fresh qemu-img image, a second
# header cluster filled with 0xee (which must never be read as guest data) is inserted before the L1 table; the
# header gets header_size 2 and l1_table_offset 2 clusters. QEMU then writes data into it, so every L2 and data
# cluster lands after the L1 table.
create header2 $((16 * MiB))
{
  head -c 65536 "$work/header2.qed"
  head -c 65536 /dev/zero | tr '\0' '\356'
  tail -c +65537 "$work/header2.qed"
} >"$work/header2.tmp"
mv "$work/header2.tmp" "$work/header2.qed"
le32 "$work/header2.qed" 12 2
le64 "$work/header2.qed" 40 $((2 * 65536))
io header2 \
  'write -P 0xb1 0 100000' \
  'write -P 0xb2 16711680 65536' \
  'read -P 0xb1 0 100000' \
  'read -P 0 100000 1000'

# ------------------------------------------------------------------------------------------- check, manifest

names=(default cs4k ts2 ts8 ts16 cs2m unaligned empty zero header2)
manifest="$here/manifest.tsv"
printf '# file\tvirtual_size\tcluster_size\ttable_size\theader_size\tsha256\n' >"$manifest.tmp"
for name in "${names[@]}"; do
  f="$work/$name.qed"
  if ! out=$(qemu-img check -f qed "$f" 2>&1); then
    echo "make-images.sh: qemu-img check $name.qed failed:" >&2
    echo "$out" >&2
    exit 1
  fi
  size=$(qemu-img info -f qed --output=json "$f" | sed -nE 's/.*"virtual-size": ([0-9]+).*/\1/p')
  qemu-img convert -f qed -O raw "$f" "$work/$name.raw"
  sum=$(sha256sum "$work/$name.raw" | cut -d' ' -f1)
  rm -f "$work/$name.raw"
  printf '%s.qed.gz\t%s\t%s\t%s\t%s\t%s\n' "$name" "$size" "$(u32 "$f" 4)" "$(u32 "$f" 8)" "$(u32 "$f" 12)" \
    "$sum" >>"$manifest.tmp"
  gzip -n -9 -c "$f" >"$here/$name.qed.gz"
  echo "$name.qed: $(stat -c %s "$f") bytes, virtual size $size, gzip $(stat -c %s "$here/$name.qed.gz") bytes"
done
mv "$manifest.tmp" "$manifest"
echo "wrote $manifest"
