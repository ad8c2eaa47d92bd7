"""`exitgate api-key` creates keys the API accepts and refuses bad input naming the option."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from cli.main import app
from service.keys import KeyRegistry


def test_create_person_and_system_keys(tmp_path: Path) -> None:
    path = str(tmp_path / "keys.json")
    runner = CliRunner()
    r = runner.invoke(app, ["api-key", "create", "--person", "alice", "--keys-file", path, "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    ident = KeyRegistry(path).verify(out["key"])
    assert ident is not None and ident.kind == "person" and "roles" not in out
    r = runner.invoke(app, ["api-key", "create", "--system", "sage", "--mission", "valdoria",
                            "--sources", "sage", "--keys-file", path])
    assert r.exit_code == 0
    ident = KeyRegistry(path).verify(r.stdout.strip())
    assert ident is not None and ident.missions == {"valdoria"} and ident.sources == {"sage"}
    listed = runner.invoke(app, ["api-key", "list", "--keys-file", path]).stdout
    assert out["key"] not in listed and len(listed.splitlines()) == 2
    assert runner.invoke(app, ["api-key", "revoke", out["key_id"], "--keys-file", path]).exit_code == 0
    assert KeyRegistry(path).verify(out["key"]) is None


def test_bad_input_names_the_option(tmp_path: Path) -> None:
    path = str(tmp_path / "keys.json")
    runner = CliRunner()
    cases = [
        # Keys carry no roles: the register does (the message says where to grant them).
        (["--person", "alice", "--roles", "srsg"], "exitgate roles grant"),
        (["--person", "al ice"], "person: 'al ice' is not a valid id"),
        (["--system", "sage", "--sources", "sage"], "missions: give at least one"),
        (["--system", "sage", "--mission", "v", "--roles", "x"], "keys carry no roles"),
        (["--person", "a", "--system", "b"], "exactly one of --person or --system"),
    ]
    for args, message in cases:
        r = runner.invoke(app, ["api-key", "create", *args, "--keys-file", path])
        assert r.exit_code == 2 and message in r.stderr, (args, r.output)
    assert not Path(path).exists() or KeyRegistry(path).identities() == []
