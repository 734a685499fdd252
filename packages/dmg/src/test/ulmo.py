#!/usr/bin/env python3
"""Rewrite a UDIF image's raw/zlib chunks as LZMA chunks (ULMO, 0x80000008: one .xz stream each,
no integrity check, as hdiutil writes them), with Python's own lzma and plistlib: an independent
maker of ULMO test images (diskit does not write ULMO). Usage: ulmo.py IN.dmg OUT.dmg [PRESET]"""
import lzma, plistlib, struct, sys, zlib

src, dst = sys.argv[1], sys.argv[2]
preset = int(sys.argv[3]) if len(sys.argv) > 3 else 6
b = open(src, 'rb').read()
koly = bytearray(b[-512:])
assert koly[:4] == b'koly'
fork_off, fork_len = struct.unpack('>QQ', koly[24:40])
xml_off, xml_len = struct.unpack('>QQ', koly[216:232])
plist = plistlib.loads(b[xml_off:xml_off + xml_len])
out = open(dst, 'wb')
pos = 0
crc = 0
for e in plist['resource-fork']['blkx']:
    d = bytearray(e['Data'])
    data_off = struct.unpack('>Q', d[24:32])[0]
    n = struct.unpack('>I', d[200:204])[0]
    for i in range(n):
        o = 204 + i * 40
        t, comment, sn, sc, co, cl = struct.unpack('>IIQQQQ', d[o:o + 40])
        if t in (1, 0x80000005):
            stored = b[fork_off + data_off + co:fork_off + data_off + co + cl]
            raw = stored if t == 1 else zlib.decompress(stored)
            assert len(raw) == sc * 512
            z = lzma.compress(raw, format=lzma.FORMAT_XZ, check=lzma.CHECK_NONE, preset=preset)
            out.write(z)
            crc = zlib.crc32(z, crc)
            struct.pack_into('>IIQQQQ', d, o, 0x80000008, comment, sn, sc, pos - data_off, len(z))
            pos += len(z)
        elif t not in (0, 2, 0x7ffffffe, 0xffffffff):
            raise SystemExit(f'chunk type {t:#x} not handled')
    e['Data'] = bytes(d)
xml = plistlib.dumps(plist)
out.write(xml)
struct.pack_into('>QQ', koly, 24, 0, pos)  # data fork
struct.pack_into('>QQ', koly, 216, pos, len(xml))  # XML plist
struct.pack_into('>II', koly, 80, 2, 32)  # data fork checksum: CRC32
koly[88:216] = struct.pack('>I', crc) + bytes(124)
out.write(koly)
out.close()
