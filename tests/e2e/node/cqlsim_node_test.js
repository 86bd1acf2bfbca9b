// The DataStax Node.js driver, default settings (plus the localDataCenter it requires), against
// cqlsim: connect, DDL, prepared insert and select, batch, paging.
// Usage: node cqlsim_node_test.js <path to cqlsim>
//        node cqlsim_node_test.js --endpoint host:port   (an endpoint already running: tandem)
'use strict';
const assert = require('assert');
const { spawn } = require('child_process');
const net = require('net');
const cassandra = require('cassandra-driver');

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}

function startCqlsim(bin, port, nodes) {
  return new Promise((resolve, reject) => {
    const proc = spawn(bin, ['--nodes', String(nodes), '--port', String(port)]);
    let seen = 0;
    const timer = setTimeout(() => reject(new Error('cqlsim did not start')), 10000);
    proc.stdout.on('data', (d) => {
      seen += (d.toString().match(/listening on/g) || []).length;
      if (seen >= nodes) { clearTimeout(timer); resolve(proc); }
    });
    proc.on('exit', (code) => reject(new Error('cqlsim exited with ' + code)));
  });
}

async function main() {
  const endpoint = process.argv[2] === '--endpoint' ? process.argv[3] : null;
  const host = endpoint ? endpoint.split(':')[0] : '127.0.0.1';
  const port = endpoint ? Number(endpoint.split(':')[1]) : await freePort();
  const sim = endpoint ? null : await startCqlsim(process.argv[2], port, 3);
  const client = new cassandra.Client({ contactPoints: [host], localDataCenter: 'datacenter1',
                                        protocolOptions: { port } });
  let failed = false;
  try {
    await client.connect();
    assert.strictEqual(client.getState().getConnectedHosts().length >= 1, true);
    const expected = endpoint ? [endpoint] : ['127.0.0.1:' + port, '127.0.0.2:' + port, '127.0.0.3:' + port];
    assert.deepStrictEqual(client.hosts.keys().sort(), expected);
    console.log('node: connected, protocol', client.controlConnection.protocolVersion, 'hosts', client.hosts.keys());

    await client.execute("CREATE KEYSPACE IF NOT EXISTS ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}");
    await client.execute('CREATE TABLE IF NOT EXISTS ks.t (k int, c int, v text, PRIMARY KEY (k, c))');
    const insert = 'INSERT INTO ks.t (k, c, v) VALUES (?, ?, ?)';
    for (let i = 0; i < 300; i++) {
      await client.execute(insert, [i % 3, i, 'v' + i], { prepare: true });
    }
    const one = await client.execute('SELECT v FROM ks.t WHERE k = ? AND c = ?', [1, 100], { prepare: true });
    assert.strictEqual(one.first().v, 'v100');

    await client.batch([
      { query: insert, params: [9, 1, 'b1'] },
      { query: 'INSERT INTO ks.t (k, c, v) VALUES (9, 2, \'b2\')' },
    ], { prepare: true });
    const batch = await client.execute('SELECT c, v FROM ks.t WHERE k = 9');
    assert.deepStrictEqual(batch.rows.map((r) => r.v), ['b1', 'b2']);

    // Paging: 100 rows per page over the 100 rows of partition 0, then all 300 with eachRow.
    let pages = 0;
    let rows = 0;
    let pageState = null;
    do {
      const rs = await client.execute('SELECT c FROM ks.t WHERE k = 0', [], { prepare: true, fetchSize: 30, pageState });
      rows += rs.rows.length;
      pages += 1;
      pageState = rs.pageState;
    } while (pageState);
    assert.strictEqual(rows, 100);
    assert.strictEqual(pages, 4);
    console.log('node: all checks passed');
  } catch (e) {
    failed = true;
    console.error('node: FAILED', e);
  } finally {
    await client.shutdown();
    if (sim) sim.kill('SIGTERM');
  }
  process.exit(failed ? 1 : 0);
}

main();
