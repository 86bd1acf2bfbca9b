#!/usr/bin/python3
"""Writes seed inputs for the fuzz targets from the cross-check corpus (valid messages of every
kind), so fuzzing starts from the protocol's real shapes. Usage: make_seeds.py <cql_corpus>."""
import hashlib
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
WHICH = {0x01: 0, 0x06: 1, 0x0E: 2, 0x0F: 2, 0x10: 2, 0x0B: 3, 0x07: 4, 0x09: 5, 0x0A: 6, 0x0D: 7,
         0x08: 8, 0x00: 9, 0x0C: 10}
STATEMENTS = [
    "SELECT * FROM system.local WHERE key='local'",
    "SELECT peer, rpc_address AS addr, count(*) FROM system.peers",
    "INSERT INTO ks.t (a, b, c) VALUES (?, :b, now()) IF NOT EXISTS USING TTL 5 AND TIMESTAMP 3",
    "UPDATE ks.t SET m = {'a': 1}, l = l + [uuid()] WHERE k = 1 IF v = 'x'",
    "BEGIN UNLOGGED BATCH DELETE FROM t WHERE k = 1; INSERT INTO t (k) VALUES (currentTimeUUID()) APPLY BATCH",
    "/* c */ CREATE TABLE IF NOT EXISTS \"Ks\".\"T\" (k int PRIMARY KEY) -- x\n",
    "CREATE FUNCTION f (a int) RETURNS NULL ON NULL INPUT RETURNS int LANGUAGE java AS $$ return a; $$",
    "SELECT * FROM t WHERE id = 123e4567-e89b-12d3-a456-426614174000 AND x = -1.5e3 AND b = 0xff",
]


def write(target, data):
    folder = os.path.join(HERE, "corpus", target)
    os.makedirs(folder, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def main():
    lines = subprocess.run([sys.argv[1]], check=True, capture_output=True, text=True).stdout.splitlines()
    values = {}
    envelopes = []
    for line in lines:
        parts = line.split(" ")
        if parts[0] == "token":
            continue
        name, data = parts[0], bytes.fromhex(parts[1])
        if name.startswith(("req_", "resp_")):
            write("envelope", data)
            envelopes.append(data)
            version, opcode = data[0] & 0x7F, data[4]
            if opcode in WHICH and version in (3, 4, 5) and not data[1] & 1:
                write("messages", bytes([WHICH[opcode] + 11 * (version - 3)]) + data[9:])
        elif name.startswith("seg_"):
            write("framing", (b"\x01" if "lz4" in name else b"\x00") + data)
        elif name.startswith(("value_", "type_")):
            kind, key = name.split("_", 1)
            values.setdefault(key, {})[kind] = data
    for key, parts in values.items():
        write("values", parts["type"] + parts["value"])
    for s in STATEMENTS:
        write("classifier", s.encode())
    # envelope_reader: streams of ten envelopes, each cut into long and (odd first byte) short pieces.
    for i in range(0, len(envelopes), 10):
        stream = b"".join(envelopes[i:i + 10])
        for cut in (0x10 + i, 0x11 + i):
            write("envelope_reader", bytes([cut % 256]) + stream)


if __name__ == "__main__":
    main()
