#!/usr/bin/python3
"""Cross-checks tandem's cql/ against the DataStax Python driver (Debian python3-cassandra).

Runs the cql_corpus program (argv[1]), which prints "<name> <hex>" for every case, then:
  req_*    the driver encodes the same request; the bytes must be identical.
  seg_*    the driver's v5 SegmentCodec encodes the same envelope; identical bytes.
  resp_*   the driver decodes our bytes; the decoded fields must equal what was meant.
  value_*  the driver serializes the same value (identical bytes) and deserializes ours.
  type_*   the driver reads our type descriptor; its CQL name must be the expected one.
  token    the driver's Murmur3 gives the same token for each key.
Every case printed must be checked, and every case listed here must be printed.
"""
import collections
import io
import subprocess
import sys
import uuid
from decimal import Decimal
from ipaddress import ip_address

from cassandra import ConsistencyLevel as CL
from cassandra import cqltypes, util
from cassandra.connection import locally_supported_compressions
from cassandra.murmur3 import murmur3
from cassandra.protocol import (AuthResponseMessage, BatchMessage, ExecuteMessage, OptionsMessage,
                                PrepareMessage, ProtocolHandler, QueryMessage, RegisterMessage,
                                ResultMessage, StartupMessage)
from cassandra.query import BatchType
from cassandra.segment import SegmentCodec

from cassandra.query import UNSET_VALUE

lz4_compress, lz4_decompress = locally_supported_compressions["lz4"]
snappy_compress, snappy_decompress = locally_supported_compressions["snappy"]

failures = []
checked = set()


def fail(name, why):
    failures.append(f"{name}: {why}")


def encode(msg, stream, version, compressor=None):
    return ProtocolHandler.encode_message(msg, stream, version, compressor, False)


def same(name, ours, theirs):
    checked.add(name)
    if ours != theirs:
        fail(name, f"\n  tandem: {ours.hex()}\n  driver: {theirs.hex()}")


INT1 = b"\x00\x00\x00\x01"


def expected_requests():
    out = {}
    out["req_startup_v4"] = encode(StartupMessage("3.0.0", {"COMPRESSION": "lz4"}), 0, 4)
    out["req_options_v4"] = encode(OptionsMessage(), 1, 4)
    out["req_options_v5"] = encode(OptionsMessage(), 1, 5)
    out["req_register_v4"] = encode(RegisterMessage(["TOPOLOGY_CHANGE", "STATUS_CHANGE", "SCHEMA_CHANGE"]), 2, 4)
    out["req_auth_response_v4"] = encode(AuthResponseMessage(b"\x00cassandra\x00cassandra"), 3, 4)
    for v in (3, 4, 5):
        out[f"req_query_plain_v{v}"] = encode(QueryMessage("SELECT * FROM ks.t", CL.ONE), 5, v)
        q = QueryMessage("SELECT * FROM ks.t WHERE a = ? AND b = ? AND c = ?", CL.LOCAL_QUORUM,
                         serial_consistency_level=CL.LOCAL_SERIAL, fetch_size=5000,
                         paging_state=b"\x01\x02\x03", timestamp=1700000000123456)
        q.query_params = [INT1, None, b"abc"]
        out[f"req_query_full_v{v}"] = encode(q, 6, v)
        if v == 5:
            out["req_query_keyspace_v5"] = encode(QueryMessage("SELECT * FROM ks.t", CL.ONE, keyspace="ks"), 7, 5)
        out[f"req_prepare_v{v}"] = encode(PrepareMessage("INSERT INTO ks.t (a, b) VALUES (?, ?)"), 8, v)
        if v == 5:
            out["req_prepare_keyspace_v5"] = encode(PrepareMessage("INSERT INTO t (a, b) VALUES (?, ?)", keyspace="ks"), 9, 5)
        e = ExecuteMessage(b"\xde\xad\xbe\xef", [INT1, UNSET_VALUE], CL.QUORUM, fetch_size=100, timestamp=42,
                           result_metadata_id=b"\xca\xfe" if v == 5 else None)
        out[f"req_execute_v{v}"] = encode(e, 10, v)
        children = [(False, "INSERT INTO ks.t (a) VALUES (?)", [INT1]), (True, b"\x01\x02\x03\x04", [b"x", None])]
        for bt, name in ((BatchType.LOGGED, "logged"), (BatchType.UNLOGGED, "unlogged"), (BatchType.COUNTER, "counter")):
            b = BatchMessage(bt, children, CL.EACH_QUORUM, serial_consistency_level=CL.SERIAL, timestamp=7,
                             keyspace="ks" if v == 5 else None)
            out[f"req_batch_{name}_v{v}"] = encode(b, 11, v)
    text = "SELECT * FROM ks.t WHERE k IN (" + "".join(f"'key{i % 4}', " for i in range(40)) + "'end')"
    out["req_query_compressed_lz4_v4"] = encode(QueryMessage(text, CL.ONE), 12, 4, lz4_compress)
    out["req_query_compressed_snappy_v4"] = encode(QueryMessage(text, CL.ONE), 12, 4, snappy_compress)
    for compressed in (False, True):
        codec = SegmentCodec(lz4_compress, lz4_decompress) if compressed else SegmentCodec()
        buf = io.BytesIO()
        codec.encode(buf, encode(QueryMessage(text, CL.ONE), 13, 5))
        out[f"seg_query_{'lz4' if compressed else 'plain'}_v5"] = buf.getvalue()
    huge = "SELECT * FROM ks.t WHERE k = '" + "h" * 140000 + "'"
    buf = io.BytesIO()
    SegmentCodec().encode(buf, encode(QueryMessage(huge, CL.ONE), 14, 5))
    out["seg_query_large_v5"] = buf.getvalue()
    return out


def check_compressed(name, ours, theirs):
    """LZ4 and Snappy encoders may pick different (equally valid) encodings: compare what each
    side's bytes decompress to, with the other side's decompressor."""
    checked.add(name)
    try:
        if name.startswith("seg_"):
            codec = SegmentCodec(lz4_compress, lz4_decompress)
            def unpack(codec, data):
                buf = io.BytesIO(data)
                header = codec.decode_header(buf)
                return codec.decode(buf, header).payload
            ours_plain = unpack(codec, ours)
            theirs_plain = unpack(codec, theirs)
        else:
            decompress = lz4_decompress if "lz4" in name else snappy_decompress
            eq(ours[:5], theirs[:5], "header before the length")
            ours_plain, theirs_plain = decompress(ours[9:]), decompress(theirs[9:])
        eq(ours_plain, theirs_plain, "decompressed")
    except AssertionError as e:
        fail(name, str(e))
    except Exception as e:
        fail(name, f"driver raised {type(e).__name__}: {e}")


def decode_response(frame):
    version = frame[0] & 0x7F
    assert frame[0] & 0x80, "response bit missing"
    flags = frame[1]
    stream = int.from_bytes(frame[2:4], "big", signed=True)
    opcode = frame[4]
    length = int.from_bytes(frame[5:9], "big")
    body = frame[9:]
    assert len(body) == length, f"length {length} but body has {len(body)} bytes"
    return version, ProtocolHandler.decode_message(version, {}, stream, flags, opcode, body, None, None)


def check_response(name, frame):
    checked.add(name)
    try:
        version, msg = decode_response(frame)
        base = name.rsplit("_v", 1)[0]
        expect = RESPONSES.get(base)
        if expect is None:
            fail(name, "no expectation for this response")
            return
        expect(msg, version)
    except AssertionError as e:
        fail(name, f"mismatch: {e}")
    except Exception as e:  # the driver could not decode our bytes
        fail(name, f"driver raised {type(e).__name__}: {e}")


def eq(a, b, what=""):
    assert a == b, f"{what} {a!r} != {b!r}"


def error_check(code, **fields):
    def check(msg, version):
        eq(msg.code, code, "code")
        for k, want in fields.items():
            got = msg.info.get(k) if isinstance(msg.info, dict) else None
            eq(got, want, k)
    return check


UUID1 = uuid.UUID("123e4567-e89b-42d3-a456-426614174000")
TIMEUUID1 = uuid.UUID("e35a9c60-8a0d-11ee-b9d1-0242ac120002")

ROW_VALUES = [
    "ascii", -9000000000, b"\x00\xff", True, 12, Decimal("-12.345"), 2.5, -0.5, -7,
    util.datetime_from_timestamp(1700000000.123), UUID1, "héllo", -128000000000000, TIMEUUID1,
    "2001:db8::1", util.Date(19000), util.Time(3723000000001), -300, -3, [1, 2, 3], {"a", "b"}, {"k": 1},
    None,  # UDT: compared field by field below
    (1, "x"), b"raw",
]


def rows_check(msg, version):
    eq(msg.kind, 2, "kind")
    eq(msg.paging_state, b"\x00\x05", "paging_state")
    names = [f"c{i}" for i in range(len(ROW_VALUES) + (1 if version == 5 else 0))]
    eq(list(msg.column_names), names, "column names")
    eq(len(msg.parsed_rows), 2, "row count")
    row = msg.parsed_rows[0]
    for i, want in enumerate(ROW_VALUES):
        got = row[i]
        if i == 22:
            eq((got.street, got.no), ("Main St", 5), "udt")
            continue
        if isinstance(want, float):
            assert abs(got - want) < 1e-9, f"c{i}: {got!r} != {want!r}"
            continue
        if isinstance(want, set):
            got = set(got)
        if isinstance(want, list):
            got = list(got)
        if isinstance(want, dict):
            got = dict(got)
        eq(got, want, f"c{i}")
    if version == 5:
        eq(row[len(ROW_VALUES)], util.Duration(1, 2, 3000000000), "duration")
    assert all(v is None for v in msg.parsed_rows[1]), "second row must be all nulls"


def schema_check(target):
    def check(msg, version):
        eq(msg.kind, 5, "kind")
        ev = msg.schema_change_event
        eq(ev["change_type"], "CREATED")
        eq(ev["target_type"], target)
        eq(ev["keyspace"], "ks")
        if target in ("TABLE", "TYPE"):
            eq(ev[target.lower()], "obj", "name")
        if target in ("FUNCTION", "AGGREGATE"):
            d = ev[target.lower()]
            eq(d.name, "obj", "name")
            eq(list(d.argument_types), ["int", "text"], "argument types")
    return check


def prepared_check(msg, version):
    eq(msg.kind, 4, "kind")
    eq(msg.query_id, b"\x0a\x0b\x0c", "id")
    if version == 5:
        eq(msg.result_metadata_id, b"\x0d\x0e", "result metadata id")
    eq(msg.pk_indexes, [0], "pk indexes")
    eq([c[2] for c in msg.bind_metadata], ["k", "v"], "bind names")
    eq([c[3].cql_parameterized_type() for c in msg.bind_metadata], ["int", "varchar"], "bind types")
    eq([c[2] for c in msg.column_metadata], ["v"], "result columns")


RESPONSES = {
    "resp_ready": lambda m, v: eq(type(m).__name__, "ReadyMessage"),
    "resp_authenticate": lambda m, v: eq(m.authenticator, "org.apache.cassandra.auth.PasswordAuthenticator"),
    "resp_supported": lambda m, v: (eq(m.cql_versions, ["3.4.5"]), eq(m.options["COMPRESSION"], ["lz4", "snappy"]),
                                    eq(m.options["PROTOCOL_VERSIONS"], ["3/v3", "4/v4", "5/v5"])),
    "resp_auth_challenge": lambda m, v: eq(m.challenge, b"chal"),
    # A null token: the driver reads null and empty alike.
    "resp_auth_success": lambda m, v: eq(m.token in (None, b"", ""), True, "token"),
    "resp_error_server": error_check(0x0000),
    "resp_error_protocol": lambda m, v: (eq(m.code, 0x000A), eq(m.message, "Invalid or unsupported protocol version (6); supported versions are (3/v3, 4/v4, 5/v5)")),
    "resp_error_bad_credentials": error_check(0x0100),
    "resp_error_unavailable": error_check(0x1000, consistency=CL.QUORUM, required_replicas=2, alive_replicas=1),
    "resp_error_overloaded": error_check(0x1001),
    "resp_error_is_bootstrapping": error_check(0x1002),
    "resp_error_truncate": error_check(0x1003),
    "resp_error_write_timeout": error_check(0x1100, consistency=CL.LOCAL_QUORUM, received_responses=1, required_responses=2, write_type=0),
    "resp_error_read_timeout": error_check(0x1200, consistency=CL.ONE, received_responses=0, required_responses=1, data_retrieved=True),
    "resp_error_syntax": error_check(0x2000),
    "resp_error_unauthorized": error_check(0x2100),
    "resp_error_invalid": lambda m, v: (eq(m.code, 0x2200), eq(m.message, "unconfigured table peers_v2")),
    "resp_error_config": error_check(0x2300),
    "resp_error_already_exists": error_check(0x2400, keyspace="ks", table="t"),
    "resp_error_unprepared": lambda m, v: (eq(m.code, 0x2500), eq(m.info, b"\x01\x02\x03")),
    "resp_error_read_failure": error_check(0x1300, consistency=CL.ALL, received_responses=1, required_responses=3, failures=1, data_retrieved=False),
    "resp_error_write_failure": error_check(0x1500, consistency=CL.TWO, received_responses=1, required_responses=2, failures=1, write_type=1),  # BATCH is 1 in the driver's WriteType
    "resp_error_function_failure": error_check(0x1400, keyspace="ks", function="f", arg_types=["int", "text"]),
    "resp_result_void": lambda m, v: eq(m.kind, 1),
    "resp_result_set_keyspace": lambda m, v: (eq(m.kind, 3), eq(m.new_keyspace, "shop")),
    "resp_result_schema_KEYSPACE": schema_check("KEYSPACE"),
    "resp_result_schema_TABLE": schema_check("TABLE"),
    "resp_result_schema_TYPE": schema_check("TYPE"),
    "resp_result_schema_FUNCTION": schema_check("FUNCTION"),
    "resp_result_schema_AGGREGATE": schema_check("AGGREGATE"),
    "resp_result_prepared": prepared_check,
    "resp_result_rows": rows_check,
    "resp_event_topology": lambda m, v: (eq(m.event_type, "TOPOLOGY_CHANGE"), eq(m.event_args["change_type"], "NEW_NODE"),
                                         eq(m.event_args["address"], ("127.0.0.5", 9042))),
    "resp_event_status": lambda m, v: (eq(m.event_type, "STATUS_CHANGE"), eq(m.event_args["change_type"], "DOWN"),
                                       eq(m.event_args["address"], ("127.0.0.6", 9043))),
    "resp_event_schema": lambda m, v: (eq(m.event_type, "SCHEMA_CHANGE"), eq(m.event_args["target_type"], "TABLE"),
                                       eq(m.event_args["table"], "t")),
}

T = cqltypes
ADDR = T.UserType.make_udt_class("ks", "addr", ("street", "no"), (T.UTF8Type, T.Int32Type))
VALUES = {
    "ascii": (T.AsciiType, "hello", "ascii"),
    "bigint": (T.LongType, -9000000000, "bigint"),
    "blob": (T.BytesType, b"\x00\x01\xff", "blob"),
    "boolean": (T.BooleanType, False, "boolean"),
    "counter": (T.CounterColumnType, 99, "counter"),
    "decimal": (T.DecimalType, Decimal("314.15"), "decimal"),
    "decimal_negative": (T.DecimalType, Decimal("-0.00001"), "decimal"),
    "double": (T.DoubleType, 3.141592653589793, "double"),
    "float": (T.FloatType, 0.25, "float"),
    "int": (T.Int32Type, 2147483647, "int"),
    "timestamp": (T.DateType, util.datetime_from_timestamp(1700000000.123), "timestamp"),
    "uuid": (T.UUIDType, UUID1, "uuid"),
    "varchar": (T.UTF8Type, "ünïcødé ✓", "text"),
    "varint_small": (T.IntegerType, 127, "varint"),
    "varint_128": (T.IntegerType, 128, "varint"),
    "varint_negative": (T.IntegerType, -32769, "varint"),
    "varint_big": (T.IntegerType, 2 ** 80, "varint"),
    "timeuuid": (T.TimeUUIDType, TIMEUUID1, "timeuuid"),
    "inet4": (T.InetAddressType, "192.168.1.10", "inet"),
    "inet6": (T.InetAddressType, "fe80::1", "inet"),
    "date": (T.SimpleDateType, util.Date(19000), "date"),
    "date_before_epoch": (T.SimpleDateType, util.Date(-1000), "date"),
    "time": (T.TimeType, util.Time(86399999999999), "time"),
    "smallint": (T.ShortType, -32768, "smallint"),
    "tinyint": (T.ByteType, 127, "tinyint"),
    "duration": (T.DurationType, util.Duration(14, 3, 5000000000), "duration"),
    "duration_negative": (T.DurationType, util.Duration(-1, -2, -3), "duration"),
    "list_int": (T.ListType.apply_parameters([T.Int32Type]), [1, -2, 3], "list<int>"),
    "set_text": (T.SetType.apply_parameters([T.UTF8Type]), util.SortedSet(["a", "b", "c"]), "set<text>"),
    "map_text_bigint": (T.MapType.apply_parameters([T.UTF8Type, T.LongType]), util.OrderedMap([("x", 1), ("y", 2)]),
                        "map<text, bigint>"),
    "list_of_map": (T.ListType.apply_parameters([T.MapType.apply_parameters([T.Int32Type, T.BooleanType])]),
                    [util.OrderedMap([(1, True)])], "list<map<int, boolean>>"),
    "tuple": (T.TupleType.apply_parameters([T.Int32Type, T.UTF8Type, T.BooleanType]), (1, "two", None),
              "tuple<int, text, boolean>"),
    "udt": (ADDR, collections.namedtuple("addr", ["street", "no"])("Main St", 42), "addr"),
    "custom": (T.lookup_casstype("org.apache.cassandra.db.marshal.BytesType"), b"opaque", "blob"),
}


def normalize(v):
    if isinstance(v, (util.SortedSet, set, frozenset)):
        return sorted(normalize(x) for x in v)
    if isinstance(v, (util.OrderedMap, util.OrderedMapSerializedKey, dict)):
        return [(normalize(k), normalize(x)) for k, x in v.items()]
    if isinstance(v, (list, tuple)):
        return [normalize(x) for x in v]
    if hasattr(v, "_fields"):
        return [normalize(x) for x in v]
    return v


def check_value(name, ours, version=5):
    key = name[len("value_"):]
    ctype, value, _ = VALUES[key]
    same(name, ours, ctype.serialize(value, version))
    try:
        back = ctype.deserialize(ours, version)
        if isinstance(value, float):
            assert abs(back - value) < 1e-12
        else:
            eq(normalize(back), normalize(value), "deserialized")
    except Exception as e:
        fail(name + " (driver decoding ours)", f"{type(e).__name__}: {e}")


def check_type(name, ours):
    checked.add(name)
    key = name[len("type_"):]
    want = VALUES[key][2]
    try:
        t = ResultMessage.read_type(io.BytesIO(ours), {})
        got = t.cql_parameterized_type()
        if key == "udt":
            eq((t.keyspace, t.typename, tuple(t.fieldnames)), ("ks", "addr", ("street", "no")), "udt")
        elif key == "custom":
            eq(t.cass_parameterized_type().endswith("BytesType"), True, "custom class")
        else:
            # The driver names text "varchar" and may wrap tuples in frozen<>.
            got = got.replace("varchar", "text")
            eq(got.replace("frozen<", "").replace(">>", ">") if "tuple" in got else got, want, "type")
    except AssertionError as e:
        fail(name, str(e))
    except Exception as e:
        fail(name, f"driver raised {type(e).__name__}: {e}")


def main():
    corpus = subprocess.run([sys.argv[1]], check=True, capture_output=True, text=True).stdout.splitlines()
    requests = expected_requests()
    seen = set()
    tokens = 0
    for line in corpus:
        parts = line.split(" ")
        if parts[0] == "token":
            key = bytes.fromhex(parts[1])
            name = f"token {parts[1][:24]}"
            checked.add(name)
            tokens += 1
            if murmur3(key) != int(parts[2]):
                fail(name, f"tandem {parts[2]} driver {murmur3(key)}")
            continue
        name, data = parts[0], bytes.fromhex(parts[1])
        seen.add(name)
        if name.startswith(("req_", "seg_")):
            if name not in requests:
                fail(name, "printed by cql_corpus but not built here")
                continue
            if "lz4" in name or "snappy" in name:
                check_compressed(name, data, requests[name])
            else:
                same(name, data, requests[name])
        elif name.startswith("resp_"):
            check_response(name, data)
        elif name.startswith("value_"):
            check_value(name, data)
        elif name.startswith("type_"):
            check_type(name, data)
        else:
            fail(name, "unknown case kind")
    for name in requests:
        if name not in seen:
            fail(name, "built here but not printed by cql_corpus")
    for key in VALUES:
        for prefix in ("value_", "type_"):
            if prefix + key not in seen:
                fail(prefix + key, "not printed by cql_corpus")
    for base in RESPONSES:
        if not any(s.startswith(base + "_v") for s in seen):
            fail(base, "response never printed by cql_corpus")
    print(f"crosscheck: {len(checked)} cases ({tokens} tokens) against the DataStax Python driver")
    if failures:
        print(f"{len(failures)} FAILED:")
        for f in failures:
            print("  " + f)
        sys.exit(1)
    print("crosscheck: all identical")


if __name__ == "__main__":
    main()
