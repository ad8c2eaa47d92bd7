"""A worker process for the integration tests, killed with -9 and restarted by them. It runs
on the real store (PostgreSQL), as production does: successive workers share one database."""

from __future__ import annotations

import asyncio
import sys

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from store import Store
from worker import build_worker


async def main(address: str, queue: str, database_url: str) -> None:
    client = await Client.connect(address, data_converter=pydantic_data_converter)
    with Store.from_url(database_url) as store:
        worker = build_worker(client, store, queue)
        print("worker ready", flush=True)
        await worker.run()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
