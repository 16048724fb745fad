#!/usr/bin/env python3
"""An independent reader of the test vector repository, written from spec/ alone.

It shares no code with cairn: it unwraps the key file with argon2id, derives the keys with BLAKE3,
opens every sealed object with XChaCha20-Poly1305, decodes the index and pack headers by their byte
layouts, reads every blob with a ranged slice, and checks each plaintext against plaintext/. If it
passes, the spec says enough to read these bytes.

Needs: pip install blake3 pycryptodome argon2-cffi zstandard
Run:   python3 spec/vectors/check.py
"""

import base64
import json
import struct
import sys
from pathlib import Path

import blake3
import zstandard
from argon2.low_level import Type, hash_secret_raw
from Crypto.Cipher import ChaCha20_Poly1305

HERE = Path(__file__).resolve().parent
REPO = HERE / "repo"
PLAIN = HERE / "plaintext"
PASSWORD = b"cairn test vectors"
MAX_BLOB_LEN = 64 << 20


def open_sealed(key, aad, sealed):
    assert len(sealed) >= 40, "shorter than the envelope"
    nonce, ct, tag = sealed[:24], sealed[24:-16], sealed[-16:]
    cipher = ChaCha20_Poly1305.new(key=key, nonce=nonce)  # a 24-byte nonce selects XChaCha20
    cipher.update(aad)
    return cipher.decrypt_and_verify(ct, tag)


def decompress(plain, limit):
    kind, body = plain[0], plain[1:]
    if kind == 0:
        out = body
    elif kind == 1:
        out = zstandard.ZstdDecompressor().decompress(body, max_output_size=limit + 1)
        # As the spec says writers write: one frame, content size recorded, no checksum.
        params = zstandard.get_frame_parameters(body)
        assert params.content_size == len(out) and not params.has_checksum
        one = zstandard.ZstdDecompressor().decompressobj()
        one.decompress(body)
        assert one.unused_data == b"", "more than one frame"
    else:
        raise ValueError(f"unknown compression byte {kind}")
    assert len(out) <= limit, "over the limit"
    return out


def only_file(directory):
    files = [p for p in directory.rglob("*") if p.is_file()]
    assert len(files) == 1, files
    data = files[0].read_bytes()
    assert files[0].name == blake3.blake3(data).hexdigest(), "name is not BLAKE3 of the bytes"
    return data


def entries(buf, count):
    out = []
    for i in range(count):
        e = buf[45 * i : 45 * (i + 1)]
        kind, bid, off, length, raw = e[0], e[1:33], *struct.unpack("<III", e[33:45])
        assert kind in (0, 1) and length >= 41 and raw <= MAX_BLOB_LEN
        out.append((kind, bid, off, length, raw))
    return out


def main():
    # Key file -> master secret -> keys.
    key_file = json.loads(only_file(REPO / "keys"))
    assert key_file["version"] == 1
    kdf = key_file["kdf"]
    assert kdf["algorithm"] == "argon2id"
    wrapping = hash_secret_raw(
        PASSWORD,
        base64.b64decode(kdf["salt"], validate=True),
        time_cost=kdf["iterations"],
        memory_cost=kdf["memory_kib"],
        parallelism=kdf["parallelism"],
        hash_len=32,
        type=Type.ID,
        version=0x13,
    )
    master = open_sealed(wrapping, b"cairn/1/key", base64.b64decode(key_file["master_key"]))
    assert master == bytes(range(32)), "master secret"
    k_enc = blake3.blake3(master, derive_key_context="cairn 2026-11 v1 encryption key").digest()
    k_id = blake3.blake3(master, derive_key_context="cairn 2026-11 v1 blob id key").digest()

    def open_file(name, stored, limit):
        opened = open_sealed(k_enc, b"cairn/1/file/" + name, stored)
        assert opened == (PLAIN / f"envelope-{name.decode()}.bin").read_bytes()
        return decompress(opened, limit)

    # Config.
    config = open_file(b"config", (REPO / "config").read_bytes(), 1 << 20)
    assert config == (PLAIN / "config.json").read_bytes()
    assert json.loads(config)["version"] == 1

    # Index.
    index = open_file(b"index", only_file(REPO / "index"), 1 << 30)
    assert index == (PLAIN / "index.bin").read_bytes()
    assert index[0] == 1
    (n_sup,) = struct.unpack_from("<I", index, 1)
    pos = 5 + 32 * n_sup
    (n_packs,) = struct.unpack_from("<I", index, pos)
    pos += 4
    blobs = {}
    envelopes = {}
    for _ in range(n_packs):
        pack_id = index[pos : pos + 32].hex()
        (n_blobs,) = struct.unpack_from("<I", index, pos + 32)
        listed = entries(index[pos + 36 :], n_blobs)
        pos += 36 + 45 * n_blobs
        pack = (REPO / "data" / pack_id[:2] / pack_id).read_bytes()
        assert blake3.blake3(pack).hexdigest() == pack_id
        (h,) = struct.unpack("<I", pack[-4:])
        assert 45 <= h and h + 4 <= len(pack)
        header = open_sealed(k_enc, b"cairn/1/pack-header", pack[-4 - h : -4])
        kind_name = "data" if listed[0][0] == 0 else "tree"
        assert header == (PLAIN / f"pack-header-{kind_name}.bin").read_bytes()
        assert header[0] == 1
        (count,) = struct.unpack_from("<I", header, 1)
        assert len(header) == 5 + 45 * count
        assert entries(header[5:], count) == listed, "pack header equals index entries"
        for kind, bid, off, length, raw in listed:
            assert off + length <= len(pack) - 4 - h
            aad = b"cairn/1/blob" + bytes([kind]) + bid
            opened = open_sealed(k_enc, aad, pack[off : off + length])
            envelopes[bid.hex()] = opened
            data = decompress(opened, raw)
            assert len(data) == raw
            assert blake3.blake3(data, key=k_id).digest() == bid, "blob id"
            blobs[bid.hex()] = (kind, data)
    assert pos == len(index), "trailing bytes"

    # Snapshot -> root tree -> file content.
    snapshot = open_file(b"snapshot", only_file(REPO / "snapshots"), 64 << 20)
    assert snapshot == (PLAIN / "snapshot.json").read_bytes()
    snap = json.loads(snapshot)
    kind, root = blobs[snap["tree"]]
    assert kind == 1 and root == (PLAIN / "tree-root.json").read_bytes()
    leaf = json.loads(root)["leaf"]
    assert [e["name"] for e in leaf] == ["hello.txt", "link", "sub"]
    assert envelopes[snap["tree"]] == (PLAIN / "envelope-tree-root.bin").read_bytes()
    for part, c in zip(leaf[0]["content"], "abc"):
        assert envelopes[part["chunk"]] == (PLAIN / f"envelope-data-{c}.bin").read_bytes()
    content = b"".join(blobs[p["chunk"]][1] for p in leaf[0]["content"])
    assert len(content) == leaf[0]["size"]
    expected = b"".join((PLAIN / f"data-{c}.bin").read_bytes() for c in "abc")
    assert content == expected
    kind, sub = blobs[leaf[2]["subtree"]]
    assert kind == 1 and sub == (PLAIN / "tree-sub.json").read_bytes()
    names = [e["name"] for e in json.loads(sub)["leaf"]]
    assert names == ["empty", {"b64": base64.b64encode(b"n\xff").decode()}]
    print(f"ok: {len(blobs)} blobs in {n_packs} packs read, every plaintext as expected")


if __name__ == "__main__":
    sys.exit(main())
