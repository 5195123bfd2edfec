// node-redis 6's client-side cache (RESP3, `clientSideCache`) through slotproxy.
//
// Run by the "tracking" integration suite (test_tracking.c) as
//     node client_node_redis_csc.mjs PROXY_PORT
// from a copy next to the node_modules the nodeclient suite installs. Every result is checked
// with assert; the last line printed is "node-redis csc: all checks passed" and the exit status
// is 0 only then. The proxy must be idle otherwise: its INFO commandstats counts the GETs that
// reached it.
import assert from 'node:assert/strict';
import { createClient } from 'redis';

const port = Number(process.argv[2]);
const url = `redis://127.0.0.1:${port}`;
const P = `csc:${process.pid}:${Date.now()}:`;

function step(name) {
    console.log(`-- ${name}`);
}

function within(promise, ms, what) {
    let timer;
    const t = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms);
    });
    return Promise.race([promise, t]).finally(() => clearTimeout(timer));
}

// Resolves when the cache has been told about every key of keys (a Set of strings).
function invalidated(cache, keys) {
    const left = new Set(keys);
    return new Promise((resolve) => {
        const on = (k) => {
            if (k === null) left.clear();
            else left.delete(k.toString());
            if (left.size === 0) {
                cache.off('invalidate', on);
                resolve();
            }
        };
        cache.on('invalidate', on);
    });
}

async function getCalls(c) {
    const info = await c.info('commandstats');
    const m = /cmdstat_get:calls=(\d+)/.exec(info);
    return m ? Number(m[1]) : 0;
}

const reader = createClient({ url, RESP: 3, clientSideCache: { ttl: 0, maxEntries: 0 } });
const writer = createClient({ url, RESP: 2 });
reader.on('error', (e) => console.error('reader:', e));
writer.on('error', (e) => console.error('writer:', e));
await reader.connect();
await writer.connect();
const cache = reader.clientSideCache;
assert.ok(cache, 'the client has a cache');

step('a cached read is served from the cache');
const k = `${P}k`;
assert.equal(await writer.set(k, 'v1'), 'OK');
const calls0 = await getCalls(writer);
assert.equal(await reader.get(k), 'v1');
assert.equal(await reader.get(k), 'v1');
assert.equal(await reader.get(k), 'v1');
let st = cache.stats();
assert.equal(st.missCount, 1, `misses: ${st.missCount}`);
assert.equal(st.hitCount, 2, `hits: ${st.hitCount}`);
const calls1 = await getCalls(writer);
assert.equal(calls1 - calls0, 1, `the proxy saw ${calls1 - calls0} GETs for three reads`);

step('another client writes: the next read has the new value');
let told = invalidated(cache, [k]);
assert.equal(await writer.set(k, 'v2'), 'OK');
await within(told, 5000, `invalidation of ${k}`);
assert.equal(await reader.get(k), 'v2');
assert.equal(await reader.get(k), 'v2');
st = cache.stats();
assert.equal(st.hitCount, 3, `hits: ${st.hitCount}`);
assert.equal(st.missCount, 2, `misses: ${st.missCount}`);

step('keys on every master, read with MGET and GET, written with MSET');
const keys = [];
for (let i = 0; i < 30; i++) keys.push(`${P}m${i}`);
await writer.mSet(keys.map((key, i) => [key, `a${i}`]));
for (const key of keys) await reader.get(key);
assert.deepEqual(await Promise.all(keys.map((key) => reader.get(key))),
                 keys.map((key, i) => `a${i}`));
const hitsBefore = cache.stats().hitCount;
told = invalidated(cache, keys);
await writer.mSet(keys.map((key, i) => [key, `b${i}`]));
await within(told, 5000, 'invalidations of 30 keys');
assert.deepEqual(await Promise.all(keys.map((key) => reader.get(key))),
                 keys.map((key, i) => `b${i}`));
assert.equal(cache.stats().hitCount, hitsBefore, 'no read served from the cache after the write');

step('a write by the caching client itself');
told = invalidated(cache, [k]);
assert.equal(await reader.set(k, 'v3'), 'OK');
await within(told, 5000, `invalidation of ${k} after its own write`);
assert.equal(await reader.get(k), 'v3');

await reader.quit();
await writer.quit();
console.log('node-redis csc: all checks passed');
