"""The driver choice of the PostgreSQL memory engine (docs/notes/postgres.md, "Driver"): asyncpg vs psycopg 3
(AsyncConnectionPool, statements prepared at once, autocommit) on the engine's two commonest statements, a point
get and an upsert: sequential (p50 latency) and 32 concurrent tasks on a pool of 8 (throughput); uvloop; medians of
3; a throw-away durable cluster. psycopg is not a dependency of the project: install it aside and borrow it

    python3 -m venv /tmp/pgdrv && /tmp/pgdrv/bin/pip install "psycopg[binary,pool]"
    PYTHONPATH=.:/tmp/pgdrv/lib/python3.11/site-packages .venv/bin/python bench/pg_drivers.py
"""

# ruff: noqa: E501
import asyncio
import statistics
import time

import asyncpg
import psycopg_pool
import uvloop

from bench.harness import postgres

URL = ""
GET = "SELECT namespace, key, value, tags, version FROM kv WHERE namespace = $1 AND key = $2"
PUT = (
    "INSERT INTO kv (namespace, key, value, tags, version) VALUES ($1, $2, $3, $4, 1) ON CONFLICT (namespace, key) "
    "DO UPDATE SET value = excluded.value, version = kv.version + 1 RETURNING version"
)


def ps(sql):  # psycopg placeholders
    for i in range(5, 0, -1):
        sql = sql.replace(f"${i}", "%s")
    return sql


async def setup():
    c = await asyncpg.connect(URL)
    await c.execute(
        "DROP TABLE IF EXISTS kv; CREATE TABLE kv (namespace text, key text, value text, tags text[], version bigint, PRIMARY KEY (namespace, key))"
    )
    await c.executemany("INSERT INTO kv VALUES ('ns', $1, '{\"a\": 1}', '{x}', 1)", [(f"k{i}",) for i in range(1000)])
    await c.close()


async def run_asyncpg(kind, n, conc):
    pool = await asyncpg.create_pool(URL, min_size=8, max_size=8, reset=lambda c: asyncio.sleep(0))

    async def one(i):
        async with pool.acquire() as c:
            if kind == "get":
                await c.fetchrow(GET, "ns", f"k{i % 1000}")
            else:
                await c.fetchval(PUT, "ns", f"k{i % 1000}", '{"a": 2}', ["x"])

    r = await measure(one, n, conc)
    await pool.close()
    return r


async def run_psycopg(kind, n, conc):
    pool = psycopg_pool.AsyncConnectionPool(
        URL, min_size=8, max_size=8, open=False, kwargs={"autocommit": True, "prepare_threshold": 0}
    )
    await pool.open()
    await pool.wait()
    g, p = ps(GET), ps(PUT)

    async def one(i):
        async with pool.connection() as c:
            if kind == "get":
                await (await c.execute(g, ("ns", f"k{i % 1000}"))).fetchone()
            else:
                await (await c.execute(p, ("ns", f"k{i % 1000}", '{"a": 2}', ["x"]))).fetchone()

    r = await measure(one, n, conc)
    await pool.close()
    return r


async def measure(one, n, conc):
    for i in range(200):
        await one(i)
    if conc == 1:
        lat = []
        for i in range(n):
            t = time.perf_counter()
            await one(i)
            lat.append(time.perf_counter() - t)
        return statistics.median(lat) * 1e3
    q = iter(range(n))
    t = time.perf_counter()

    async def w():
        for i in q:
            await one(i)

    await asyncio.gather(*(w() for _ in range(conc)))
    return n / (time.perf_counter() - t)


async def main():
    await setup()
    for kind in ("get", "put"):
        for conc, n in ((1, 2000), (32, 20000)):
            a = [await run_asyncpg(kind, n, conc) for _ in range(3)]
            p = [await run_psycopg(kind, n, conc) for _ in range(3)]
            unit = "p50 ms" if conc == 1 else "ops/s"
            print(
                f"{kind} conc {conc} {unit}: asyncpg {statistics.median(a):.3f} {[round(x, 3) for x in a]}  psycopg {statistics.median(p):.3f} {[round(x, 3) for x in p]}  ratio psycopg/asyncpg {statistics.median(p) / statistics.median(a):.2f}"
            )


if __name__ == "__main__":
    with postgres.cluster(postgres.DURABLE_SETTINGS) as cluster:
        URL = cluster.database()
        uvloop.run(main())
