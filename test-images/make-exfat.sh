#!/usr/bin/env bash
# exFAT fixtures: mkfs.exfat, then populated through exfat-fuse (FUSE mount, so this runs as root on a
# developer machine, never in CI). Writes exfat/<name>.img.gz and, beside each,
# <name>.json: the source tree (path, type, size, mtime, sha256) the tests compare diskit with.
#   exfat/small.img.gz  8 MiB, 4 KiB clusters: long / Unicode (incl. outside the BMP) / mixed-case
#                       names, a deep tree, empty, one-cluster, contiguous (NoFatChain) and fragmented
#                       (FAT-chained) files, a file extended by truncate (valid data length < size),
#                       a directory of 300 entries (several clusters), written with TZ=Asia/Kolkata (UTC offset +05:30 in the timestamps).
set -euo pipefail
cd "$(dirname "$0")/exfat"
here=$(pwd)
work=$(mktemp -d)
mnt="$work/mnt"
loop=""
cleanup() { mountpoint -q "$mnt" && umount "$mnt"; [ -n "$loop" ] && losetup -d "$loop"; rm -rf "$work"; }
trap cleanup EXIT
mkdir -p "$mnt"
img="$work/small.img"
truncate -s 8M "$img"
mkfs.exfat -L DISKIT-EXF -c 4K "$img" >/dev/null
loop=$(losetup -f --show "$img")
TZ=Asia/Kolkata mount.exfat-fuse "$loop" "$mnt"
cd "$mnt"
rnd() { python3 -c "import random,sys; random.seed($2); sys.stdout.buffer.write(random.randbytes($1))"; }
printf 'hello, world\n' > hello.txt
: > empty
rnd 4096 1 > one-cluster.bin
rnd 20000 2 > contiguous.dat
printf 'mixed\n' > MixedCase.Txt
printf 'unicode\n' > 'ünïcödé ファイル 😀.txt'
printf 'long\n' > 'a rather long file name with spaces and more than 64 characters in it, to need several name entries.txt'
printf 'dot\n' > '.hidden start'
mkdir -p Deep/a/b/c/d/e/f/g/h/i/j/k/l/m 'Empty Dir' many
printf 'deep\n' > Deep/a/b/c/d/e/f/g/h/i/j/k/l/m/leaf.txt
for i in $(seq 1 300); do printf 'file %d\n' "$i" > "many/entry number $i with a long name.txt"; done
rnd 8192 3 > frag_a.bin; rnd 8192 4 > frag_b.bin; rnd 8192 5 > frag_c.bin; sync
rm frag_b.bin; sync
rnd 20000 6 > fragmented.bin
rnd 5000 7 > sparse-tail.bin
truncate -s 300000 sparse-tail.bin
touch -d '2024-02-29 13:14:15.5 UTC' hello.txt
sync
cd /
umount "$mnt"
fsck.exfat -n "$img" >/dev/null
mount.exfat-fuse -o ro "$loop" "$mnt"
python3 - "$mnt" > "$work/small.json" <<'PY'
import hashlib, json, os, sys
root = sys.argv[1]
out = []
for d, dirs, files in os.walk(root):
    for n in sorted(dirs + files):
        p = os.path.join(d, n)
        st = os.lstat(p)
        rel = '/' + os.path.relpath(p, root)
        e = {'path': rel, 'type': 'directory' if os.path.isdir(p) else 'file', 'size': 0 if os.path.isdir(p) else st.st_size, 'mtime': st.st_mtime}
        if e['type'] == 'file':
            e['sha256'] = hashlib.sha256(open(p, 'rb').read()).hexdigest()
        out.append(e)
out.sort(key=lambda e: e['path'])
json.dump(out, sys.stdout, indent=0, ensure_ascii=False)
PY
umount "$mnt"
losetup -d "$loop"; loop=""
gzip -9n < "$img" > "$here/small.img.gz"
cp "$work/small.json" "$here/small.json"
echo "made exfat/small.img.gz ($(stat -c %s "$here/small.img.gz") bytes)"
