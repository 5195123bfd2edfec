// node-redis (npm "redis", version 6) through slotproxy, as an application would use it.
//
// Run by the "nodeclient" integration suite (test_nodeclient.c) as
//     node client_node_redis.mjs PROXY_PORT
// with the package installed by the suite into the build folder (NODE_PATH is not used: the
// suite runs the script from a copy next to that node_modules). Every result is checked with
// assert; the exit status is 0 only when all held, and the last line printed is
// "node-redis: all checks passed". node-redis 6 opens every connection with HELLO 3 by default,
// so the main part runs in RESP3 with the default settings; the same checks run again with
// RESP: 2, and a cluster client seeded with the proxy (a one-node cluster to it) runs last.
//
// With PX_TLS_DIR set (the "tls" suite), every connection is TLS through node-redis's socket.tls
// options: DIR/ca.crt verifies the proxy (whose certificate names 127.0.0.1), DIR/client.crt and
// DIR/client.key are the client's certificate.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createClient, createCluster } from 'redis';

const port = Number(process.argv[2]);
const tlsDir = process.env.PX_TLS_DIR;
const url = `${tlsDir ? 'rediss' : 'redis'}://127.0.0.1:${port}`;
// The socket options of every client made here: none for plain TCP.
const socket = tlsDir ? {
    tls: true,
    ca: readFileSync(`${tlsDir}/ca.crt`),
    cert: readFileSync(`${tlsDir}/client.crt`),
    key: readFileSync(`${tlsDir}/client.key`),
} : {};
const P = `node:${process.pid}:${Date.now()}:`; // fresh keys on every run

function step(name) {
    console.log(`-- ${name}`);
}

async function checks(c, resp) {
    const tag = `${P}${resp}:`;
    step(`RESP${resp}: the connection`);
    const info = await c.clientInfo();
    assert.equal(info.resp, resp, `CLIENT INFO says resp=${info.resp}`);
    assert.equal(await c.ping(), 'PONG');

    step(`RESP${resp}: strings`);
    assert.equal(await c.set(`${tag}s`, 'value'), 'OK');
    assert.equal(await c.get(`${tag}s`), 'value');
    assert.equal(await c.get(`${tag}missing`), null);
    assert.equal(await c.incrBy(`${tag}n`, 5), 5);
    assert.equal(await c.incrByFloat(`${tag}f`, 1.5), '1.5');
    const big = 'x'.repeat(100000);
    await c.set(`${tag}big`, big);
    assert.equal(await c.get(`${tag}big`), big);

    step(`RESP${resp}: hashes as objects`);
    assert.equal(await c.hSet(`${tag}h`, { a: '1', b: '2', c: '3' }), 3);
    assert.deepEqual(await c.hGetAll(`${tag}h`), { a: '1', b: '2', c: '3' });
    assert.deepEqual(await c.hGetAll(`${tag}nohash`), {});
    assert.deepEqual(await c.hmGet(`${tag}h`, ['a', 'zz']), ['1', null]);

    step(`RESP${resp}: sets`);
    assert.equal(await c.sAdd(`${tag}set`, ['x', 'y', 'z']), 3);
    assert.deepEqual((await c.sMembers(`${tag}set`)).sort(), ['x', 'y', 'z']);
    assert.equal(await c.sIsMember(`${tag}set`, 'y'), 1);

    step(`RESP${resp}: sorted sets with scores`);
    await c.zAdd(`${tag}z`, [{ score: 1.5, value: 'a' }, { score: 2, value: 'b' },
                             { score: -3.25, value: 'c' }]);
    assert.deepEqual(await c.zRangeWithScores(`${tag}z`, 0, -1),
                     [{ value: 'c', score: -3.25 }, { value: 'a', score: 1.5 },
                      { value: 'b', score: 2 }]);
    assert.equal(await c.zScore(`${tag}z`, 'a'), 1.5);
    assert.equal(await c.zScore(`${tag}z`, 'nope'), null);

    step(`RESP${resp}: keys on every master, split and merged`);
    const keys = [];
    for (let i = 0; i < 30; i++) keys.push(`${tag}k${i}`);
    await c.mSet(keys.map((k, i) => [k, `v${i}`]));
    assert.deepEqual(await c.mGet([...keys, `${tag}none`]),
                     [...keys.map((k, i) => `v${i}`), null]);
    assert.equal(await c.exists(keys), 30);
    assert.equal(await c.del(keys.slice(0, 10)), 10);
    assert.ok((await c.dbSize()) >= 20);
    const found = await c.keys(`${tag}k*`);
    assert.equal(found.length, 20);
    const scanned = new Set();
    for await (const batch of c.scanIterator({ MATCH: `${tag}k*`, COUNT: 100 }))
        for (const k of batch) scanned.add(k);
    assert.equal(scanned.size, 20);

    step(`RESP${resp}: a pipeline`);
    const replies = await c.multi()
        .set(`${tag}p1`, 'a').get(`${tag}p1`).hGetAll(`${tag}h`).incr(`${tag}n`)
        .execAsPipeline();
    assert.deepEqual(replies, ['OK', 'a', { a: '1', b: '2', c: '3' }, 6]);
    const many = [];
    for (let i = 0; i < 200; i++) many.push(c.set(`${tag}pp${i}`, String(i)));
    await Promise.all(many);
    const gets = await Promise.all(Array.from({ length: 200 }, (_, i) => c.get(`${tag}pp${i}`)));
    assert.deepEqual(gets, Array.from({ length: 200 }, (_, i) => String(i)));

    step(`RESP${resp}: MULTI/EXEC`);
    const tx = await c.multi()
        .set(`${tag}{tx}a`, '1').incr(`${tag}{tx}b`).hSet(`${tag}{tx}h`, { f: 'v' })
        .hGetAll(`${tag}{tx}h`).exec();
    assert.deepEqual(tx, ['OK', 1, 1, { f: 'v' }]);
    await c.watch(`${tag}{tx}a`);
    const other = c.duplicate();
    await other.connect();
    await other.set(`${tag}{tx}a`, 'changed');
    await other.quit();
    await assert.rejects(c.multi().get(`${tag}{tx}a`).exec(), /WATCH|watched|aborted/i);

    step(`RESP${resp}: Pub/Sub on a subscriber connection`);
    const sub = c.duplicate();
    await sub.connect();
    const got = [];
    await sub.subscribe(`${tag}ch`, (message, channel) => got.push([channel, message]));
    await sub.pSubscribe(`${tag}pat*`, (message, channel) => got.push([channel, message]));
    assert.equal(await c.publish(`${tag}ch`, 'one'), 1);
    await c.publish(`${tag}pattern`, 'two');
    const deadline = Date.now() + 5000;
    while (got.length < 2 && Date.now() < deadline) await new Promise(r => setTimeout(r, 20));
    got.sort();
    assert.deepEqual(got, [[`${tag}ch`, 'one'], [`${tag}pattern`, 'two']]);
    if (resp === 3) {
        // RESP3: the subscribed connection still answers ordinary commands.
        assert.equal(await sub.get(`${tag}s`), 'value');
    }
    await sub.unsubscribe(`${tag}ch`);
    await sub.pUnsubscribe(`${tag}pat*`);
    await sub.quit();
}

async function main() {
    // The default: node-redis 6 says HELLO 3.
    const c3 = createClient({ url, socket });
    c3.on('error', e => console.error('client error', e));
    await c3.connect();
    await checks(c3, 3);
    await c3.quit();

    const c2 = createClient({ url, RESP: 2, socket });
    c2.on('error', e => console.error('client error', e));
    await c2.connect();
    await checks(c2, 2);
    await c2.quit();

    step('cluster client seeded with the proxy');
    const cl = createCluster({ rootNodes: [{ url, socket }], defaults: { socket } });
    cl.on('error', e => console.error('cluster error', e));
    await cl.connect();
    for (let i = 0; i < 50; i++) assert.equal(await cl.set(`${P}cl${i}`, `v${i}`), 'OK');
    for (let i = 0; i < 50; i++) assert.equal(await cl.get(`${P}cl${i}`), `v${i}`);
    assert.deepEqual(await cl.hGetAll(`${P}3:h`), { a: '1', b: '2', c: '3' });
    await cl.quit();
    if (tlsDir) console.log('node-redis: over TLS');
    console.log('node-redis: all checks passed');
}

main().catch(e => {
    console.error(e);
    process.exit(1);
});
