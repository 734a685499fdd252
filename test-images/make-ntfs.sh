#!/usr/bin/env bash
# The NTFS fixture that needs an ntfs-3g FUSE mount (compression, symlinks, junctions, streams,
# DOS names, hard links). Writes ntfs/full.img.xz and ntfs/full.manifest (the source tree as
# "type size sha256 path" lines, streams as path:name) so tests never mount. Run as root.
set -euo pipefail
cd "$(dirname "$0")"; here=$(pwd)
work=$(mktemp -d)
mnt="$work/mnt"
trap 'cd /; umount "$mnt" 2>/dev/null || true; rm -rf "$work"' EXIT
img="$work/full.img"
truncate -s 48M "$img"
mkntfs -F -f -Q -q -L "diskit ntfs" -c 4096 "$img"
mkdir -p "$mnt"
ntfs-3g -o streams_interface=xattr "$img" "$mnt"
cd "$mnt"
printf 'hello, ntfs\n' > hello.txt
printf 'tiny' > tiny
: > empty
mkdir -p 'dir/sub/deeper' 'Case' 'case'
printf 'upper\n' > Case/Readme; printf 'lower\n' > Case/README
printf 'deep file\n' > dir/sub/deeper/leaf.txt
printf 'ünï\n' > 'ünïcödé 日本語 ✓.txt'
long=$(printf 'L%.0s' $(seq 1 240)).txt
printf 'long name\n' > "$long"
# A fragmented file: its 16 KiB blocks written last to first, so each lands after the one before
# on disk: 13 runs with backwards LCN deltas.
mkdir fill
seq 1 40000 > "$work/frag.all"; head -c 200000 "$work/frag.all" > "$work/frag.src"
for j in $(seq 12 -1 0); do
  dd if="$work/frag.src" of=fragmented.txt bs=16384 skip=$j seek=$j count=1 conv=notrunc status=none; sync
done
# Hard links enough to overflow one MFT record: the file's names move out through an $ATTRIBUTE_LIST.
mkdir links
printf 'linked many times\n' > links/target
for j in $(seq -w 1 120); do ln links/target links/name-$j; done
# Sparse: a hole, some data, a hole; and a file past 4 GiB with data beyond the 4 GiB mark.
truncate -s 10M sparse.bin; printf 'middle of a sparse file\n' | dd of=sparse.bin bs=1 seek=5000000 conv=notrunc status=none
truncate -s 5G big.bin; printf 'past four gibibytes\n' | dd of=big.bin bs=1 seek=$((4 * 1024 * 1024 * 1024 + 12345)) conv=notrunc status=none
# LZNT1: files created in a directory flagged compressed are compressed (mount option compression).
mkdir packed
setfattr -h -v 0x00000800 -n system.ntfs_attrib_be packed
cd /; umount "$mnt"; ntfs-3g -o streams_interface=xattr,compression "$img" "$mnt"; cd "$mnt"
seq 1 25000 > packed/numbers.txt
head -c 70000 /dev/zero > packed/zeros.bin
printf 'short\n' > packed/short.txt
# Hard links, a symlink, a junction (a mount-point reparse point made by hand), streams, a DOS name.
ln hello.txt dir/hello-link.txt
ln -s dir/sub/deeper/leaf.txt link-to-leaf
mkdir junction
target='\??\C:\Windows'; print='C:\Windows'
hex() { printf '%s' "$1" | iconv -t UTF-16LE | od -An -tx1 | tr -d ' \n'; }
le16() { printf '%02x%02x' $(($1 & 255)) $(($1 >> 8)); }
sub=$(hex "$target"); prn=$(hex "$print"); sl=$((${#sub} / 2)); pl=$((${#prn} / 2))
body="$(le16 0)$(le16 $sl)$(le16 $((sl + 2)))$(le16 $pl)${sub}0000${prn}0000"
setfattr -h -n system.ntfs_reparse_data -v "0x030000a0$(le16 $((${#body} / 2)))0000${body}" junction
# A Windows symlink reparse point (relative), beside ntfs-3g's own Interix-style link-to-leaf.
mkrp() { # tag-hex path-buffer-hex-body file
  setfattr -h -n system.ntfs_reparse_data -v "0x$1$(le16 $((${#2} / 2)))0000$2" "$3"
}
printf 'x' > winlink
sub=$(hex 'dir\sub\deeper\leaf.txt'); sl=$((${#sub} / 2))
mkrp 0c0000a0 "$(le16 0)$(le16 $sl)$(le16 $((sl + 2)))$(le16 $sl)01000000${sub}0000${sub}0000" winlink
printf 'not really secret\n' > secret.txt
# ntfs-3g silently keeps the EFS flag off: secret.txt stays plain; the hostile tests set the flag.
setfattr -h -v 0x00004000 -n system.ntfs_attrib_be secret.txt || true
printf 'main data\n' > streams.txt
setfattr -n user.alpha -v 'first stream' streams.txt
setfattr -n user.beta -v "$(seq 1 3000 | tr '\n' ' ')" streams.txt
printf 'dos\n' > 'A long file name.text'
setfattr -h -n system.ntfs_dos_name -v 'ALONGF~1.TEX' 'A long file name.text'
# A directory of 10,000 entries: its index needs $INDEX_ALLOCATION buffers and a deeper tree.
mkdir many
(cd many && for i in $(seq -w 1 10000); do : > "e$i"; done)
cd /
umount "$mnt"
ntfs-3g -o ro,streams_interface=xattr "$img" "$mnt"
cd "$mnt"
python3 - "$mnt" > "$here/ntfs/full.manifest" <<'PY'
import hashlib, os, sys
root = sys.argv[1]
out = []
for d, dirs, files in os.walk(root):
    for n in dirs + files:
        p = os.path.join(d, n); rel = '/' + os.path.relpath(p, root)
        if rel.startswith('/many/'): continue  # 10,000 empty files e00001..e10000: checked by rule
        if os.path.islink(p): out.append(f'l 0 {os.readlink(p).split("/.NTFS-3G/")[-1]} {rel}')
        elif os.path.isdir(p): out.append(f'd 0 - {rel}')
        else:
            h = hashlib.sha256()
            with open(p, 'rb') as f:
                while b := f.read(1 << 20): h.update(b)
            out.append(f'f {os.path.getsize(p)} {h.hexdigest()} {rel}')
            for a in os.listxattr(p, follow_symlinks=False):
                if a.startswith('user.'):
                    v = os.getxattr(p, a, follow_symlinks=False)
                    out.append(f's {len(v)} {hashlib.sha256(v).hexdigest()} {rel}:{a[5:]}')
print('\n'.join(sorted(out, key=lambda l: l.split(' ', 3)[3])))
PY
cd /
umount "$mnt"
xz -9e -T1 < "$img" > "$here/ntfs/full.img.xz"
echo "made ntfs/full.img.xz ($(stat -c %s "$here/ntfs/full.img.xz") bytes)"
