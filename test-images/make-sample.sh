#!/usr/bin/env bash
# The bundled sample for `npm run demo`: a dynamic VHD (qemu-img) of a 4 MiB GPT disk (sgdisk)
# whose first partition holds an ISO9660 filesystem with Rock Ridge and Joliet (xorriso).
set -euo pipefail
cd "$(dirname "$0")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/tree/docs/notes"
printf 'Hello from diskit.\n' > "$work/tree/README.txt"
printf 'A file two levels down.\n' > "$work/tree/docs/notes/todo.txt"
seq 1 2000 > "$work/tree/docs/numbers.txt"
ln -s docs/numbers.txt "$work/tree/numbers"
touch -h -d '2026-01-01 00:00:00 UTC' "$work/tree" "$work/tree"/* "$work/tree/docs"/* "$work/tree/docs/notes"/*
SOURCE_DATE_EPOCH=1767225600 xorriso -as mkisofs -quiet -R -J -V SAMPLE -o "$work/fs.iso" "$work/tree"
truncate -s 4M "$work/disk.img"
sgdisk -U 11111111-2222-3333-4444-555555555555 -n1:2048:+1M -c1:sample-iso -u1:AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE "$work/disk.img" >/dev/null
dd if="$work/fs.iso" of="$work/disk.img" bs=512 seek=2048 conv=notrunc status=none
qemu-img convert -f raw -O vpc -o subformat=dynamic "$work/disk.img" "$work/sample.vhd"
gzip -9n < "$work/sample.vhd" > sample/sample.vhd.gz
cp "$work/disk.img" "$work/ref.img"
echo "made sample/sample.vhd.gz ($(stat -c %s sample/sample.vhd.gz) bytes)"
