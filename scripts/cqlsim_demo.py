#!/usr/bin/python3
"""The demo `make run` shows: the DataStax Python driver, default settings, against a 3-node
cqlsim. Usage: demo.py <port>."""
import logging
import sys
import time

from cassandra.cluster import Cluster
from cassandra.concurrent import execute_concurrent_with_args

logging.basicConfig(level=logging.ERROR)
port = int(sys.argv[1])
cluster = Cluster(["127.0.0.1"], port=port)
session = cluster.connect()
local = session.execute("SELECT cluster_name, release_version, data_center FROM system.local").one()
print(f"demo: connected to '{local.cluster_name}' (Cassandra {local.release_version}, {local.data_center}) "
      f"with protocol v{cluster.protocol_version}")
hosts = sorted(h.address for h in cluster.metadata.all_hosts())
print(f"demo: the driver found {len(hosts)} nodes ({', '.join(hosts)}) owning "
      f"{len(cluster.metadata.token_map.token_to_host_owner)} tokens")
session.execute("CREATE KEYSPACE IF NOT EXISTS shop WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 3}")
session.execute("CREATE TABLE IF NOT EXISTS shop.orders (customer int, id timeuuid, total decimal, PRIMARY KEY (customer, id))")
insert = session.prepare("INSERT INTO shop.orders (customer, id, total) VALUES (?, now(), ?)")
start = time.time()
from decimal import Decimal
execute_concurrent_with_args(session, insert, [(i % 100, Decimal(i) / 10) for i in range(5000)], concurrency=64)
elapsed = time.time() - start
count = session.execute("SELECT count(*) FROM shop.orders").one().count
print(f"demo: wrote {count} orders with a prepared INSERT in {elapsed:.2f} s (the Python driver is the limit here)")
rows = list(session.execute("SELECT id, total FROM shop.orders WHERE customer = 42 LIMIT 3"))
print(f"demo: customer 42's first orders: {[str(r.total) for r in rows]}")
cluster.shutdown()
