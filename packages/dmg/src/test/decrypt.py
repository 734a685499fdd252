#!/usr/bin/env python3
"""Decrypt an encrcdsa v2 DMG independently of diskit: hashlib's PBKDF2-HMAC-SHA1, 3DES-EDE-CBC
key unwrap and per-chunk AES-CBC (IV = HMAC-SHA1(key, chunk number)[:16]) from
python3-cryptography. Usage: decrypt.py IN.dmg PASSWORD-FILE OUT (exit 3 on a wrong password)."""
import hashlib, hmac, struct, sys
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
try:
    from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
except ImportError:
    TripleDES = algorithms.TripleDES

src, pwfile, dst = sys.argv[1:4]
password = open(pwfile, 'rb').read().split(b'\n')[0]
b = open(src, 'rb').read()
assert b[:8] == b'encrcdsa'
version, ivsize, mode, alg, keybits = struct.unpack('>IIIII', b[8:28])
assert version == 2 and alg == 0x80000001
chunk, datasize, dataoff, keycount = struct.unpack('>IQQI', b[52:76])
for k in range(keycount):
    ktype, off, size = struct.unpack('>IQQ', b[76 + k * 20:96 + k * 20])
    if ktype != 1:
        continue
    p = b[off:off + size]
    kdf, _, iters, saltlen = struct.unpack('>IIII', p[:16])
    salt = p[16:16 + saltlen]
    ivlen = struct.unpack('>I', p[48:52])[0]
    iv = p[52:52 + ivlen]
    kbits, kalg, kpad, kmode, bloblen = struct.unpack('>IIIII', p[84:104])
    assert (kdf, kbits, kalg, kpad, kmode) == (103, 192, 17, 7, 6)
    kek = hashlib.pbkdf2_hmac('sha1', password, salt, iters, 24)
    d = Cipher(TripleDES(kek), modes.CBC(iv[:8])).decryptor()
    plain = d.update(p[104:104 + bloblen]) + d.finalize()
    n = plain[-1]
    if not (1 <= n <= 8 and plain[-n:] == bytes([n]) * n and plain[keybits // 8 + 20:keybits // 8 + 24] == b'CKIE'):
        continue
    aes, hkey = plain[:keybits // 8], plain[keybits // 8:keybits // 8 + 20]
    with open(dst, 'wb') as out:
        for i in range((datasize + chunk - 1) // chunk):
            civ = hmac.new(hkey, struct.pack('>I', i), hashlib.sha1).digest()[:16]
            dec = Cipher(algorithms.AES(aes), modes.CBC(civ)).decryptor()
            c = b[dataoff + i * chunk:dataoff + (i + 1) * chunk]
            out.write((dec.update(c) + dec.finalize())[:datasize - i * chunk])
    sys.exit(0)
sys.exit(3)
