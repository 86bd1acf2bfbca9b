#!/usr/bin/python3
"""The main job (`make run`): a migration through tandem, on this machine.

Starts two cqlsim clusters, origin and target, each with its own credentials; origin already
holds the application's data (written before the migration); starts tandem between them; runs
a short workload through tandem with the DataStax Python driver (inserts, reads, an update, a
delete) that reaches both clusters; copies the rows that existed before with tandem-migrate
(each cell's write time kept), validates (zero differences); flips the primary cluster live
(SIGHUP, no reconnect) and shows that reads now come from target; stops everything.

Usage: demo.py <cqlsim binary> <tandem binary> <tandem-migrate binary>
"""
import logging
import os
import sys
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
import tandem_harness as h  # noqa: E402

from cassandra.auth import PlainTextAuthProvider  # noqa: E402

logging.basicConfig(level=logging.ERROR)
cqlsim, tandem_bin, migrate_bin = sys.argv[1], sys.argv[2], sys.argv[3]
SCHEMA = ["CREATE KEYSPACE IF NOT EXISTS shop WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 3}",
          "CREATE TABLE IF NOT EXISTS shop.orders (id int PRIMARY KEY, item text, qty int)"]


def migrate(command):
    """tandem-migrate from origin to target with each cluster's own credentials; its summary."""
    import json
    import subprocess
    p = subprocess.run([migrate_bin, command, "--origin", "%s:%d" % (origin.address, origin.port), "--origin-username", "app_old",
                        "--origin-password", "old-secret", "--target", "%s:%d" % (target.address, target.port), "--target-username",
                        "app_new", "--target-password", "new-secret", "--keyspace", "shop", "--json", "-"],
                       capture_output=True, text=True, timeout=120)
    return p.returncode, json.loads(p.stdout.strip().splitlines()[-1])


def show(cluster, label):
    rows = sorted((r.id, r.item, r.qty) for r in cluster.execute("SELECT id, item, qty FROM shop.orders"))
    print(f"  {label:<7} ({cluster.address}, {cluster.name}): {len(rows)} rows")
    for r in rows[:7]:
        print(f"           {r[0]:>3}  {r[1]:<11} qty {r[2]}")
    if len(rows) > 7:
        print(f"           ... and {len(rows) - 7} more")
    return rows


origin = h.cluster(cqlsim, "origin", "127.0.1.1", nodes=3, auth=("app_old", "old-secret"))
target = h.cluster(cqlsim, "target", "127.0.2.1", nodes=3, auth=("app_new", "new-secret"))
proxy = None
try:
    print(f"demo: origin cluster on {origin.address}..3:{origin.port} (user app_old), "
          f"target cluster on {target.address}..3:{target.port} (user app_new)")
    for stmt in SCHEMA:
        origin.execute(stmt)
        target.execute(stmt)
    for i in range(100, 120):
        origin.execute(f"INSERT INTO shop.orders (id, item, qty) VALUES ({i}, 'archive {i}', {i}) USING TIMESTAMP {1600000000000000 + i}")
    print("demo: origin holds 20 orders written before the migration; target has the schema and no rows")
    proxy = h.tandem(tandem_bin, origin, target, settings={"heartbeat_interval_ms": 30000})
    print(f"demo: tandem listening on 127.0.0.1:{proxy.port}; the application logs in with target's credentials "
          f"and tandem logs into origin as app_old (ZDM's credential rule)")
    cluster, session = proxy.connect(auth_provider=PlainTextAuthProvider("app_new", "new-secret"))
    local = session.execute("SELECT cluster_name, release_version, rpc_address FROM system.local").one()
    print(f"demo: the driver sees one node, {local.rpc_address} (tandem), cluster '{local.cluster_name}', "
          f"Cassandra {local.release_version}, protocol v{cluster.protocol_version}")

    insert = session.prepare("INSERT INTO shop.orders (id, item, qty) VALUES (?, ?, ?)")
    for i, item in enumerate(["apples", "pears", "plums", "figs", "dates", "limes"], start=1):
        session.execute(insert, (i, item, i * 10))
    session.execute("UPDATE shop.orders SET qty = 99 WHERE id = 2")
    session.execute("DELETE FROM shop.orders WHERE id = 5")
    read = session.prepare("SELECT item, qty FROM shop.orders WHERE id = ?")
    row = session.execute(read, (2,)).one()
    print(f"demo: wrote 6 orders (prepared INSERT), updated order 2, deleted order 5; read order 2 back: "
          f"{row.item} qty {row.qty}")

    print("demo: what each cluster holds, read directly (not through tandem):")
    a = show(origin, "origin")
    b = show(target, "target")
    dual = [r for r in a if r[0] < 100]
    print("demo: both clusters got every write made through tandem: " + ("yes" if dual == b and len(b) == 5 else "NO"))
    rc_copy, copy = migrate("copy")
    print(f"demo: tandem-migrate copy: {copy['rows_read']} rows read from origin, {copy['rows_written']} written to target "
          f"with their original write times, in {copy['seconds']:.2f} s (exit {rc_copy})")
    rc_validate, validate = migrate("validate")
    differences = validate["missing"] + validate["mismatched"] + validate["extra"]
    print(f"demo: tandem-migrate validate: {validate['rows_read'] // 2} rows compared, {differences} differences (exit {rc_validate})")
    copied = show(target, "target")

    marker = "demo-" + uuid.uuid4().hex[:6]
    session.execute(f"SELECT item FROM shop.orders WHERE id = 1 /* {marker} before */")
    before = (len(origin.requests(marker)), len(target.requests(marker)))
    print(f"demo: a read with primary_cluster ORIGIN reached origin {before[0]}x, target {before[1]}x")
    proxy.reload(primary_cluster="TARGET")
    print("demo: primary_cluster set to TARGET in the settings file, SIGHUP sent (no restart, no reconnect)")
    session.execute(f"SELECT item FROM shop.orders WHERE id = 1 /* {marker} after */")
    after = (len(origin.requests(marker + " after")), len(target.requests(marker + " after")))
    print(f"demo: the same read on the same connection now reached origin {after[0]}x, target {after[1]}x")
    session.execute(insert, (7, "kiwis", 70))
    print("demo: writes still go to both: order 7 on origin: %d row(s), on target: %d row(s)" % (
        len(origin.execute("SELECT * FROM shop.orders WHERE id = 7")),
        len(target.execute("SELECT * FROM shop.orders WHERE id = 7"))))
    cluster.shutdown()
    ok = (dual == b and len(b) == 5 and copied == a and len(a) == 25 and rc_copy == 0 and rc_validate == 0 and differences == 0
          and before == (1, 0) and after == (0, 1))
finally:
    rc = proxy.stop() if proxy else None
    origin.stop()
    target.stop()
print(f"demo: tandem stopped (exit {rc}), clusters stopped")
if not ok or rc != 0:
    print("demo: FAILED")
    sys.exit(1)
