"""Approver page sessions end on the server, and a cookie of any shape is no session, not an error."""

from __future__ import annotations

from itsdangerous import URLSafeTimedSerializer

from .conftest import Env
from .test_ui import csrf, sign_in


def _serializer(env: Env, salt: str = "exitgate-ui") -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(env.app.state.parts.settings.session_secret.get_secret_value(), salt=salt)


async def test_a_cookie_replayed_after_sign_out_no_longer_works(env: Env) -> None:
    await sign_in(env.client, env.keys["alice"])
    copied = env.client.cookies["exitgate_session"]
    home = await env.client.get("/ui/")
    assert home.status_code == 200
    assert (await env.client.post("/ui/logout", data={"csrf": csrf(home.text)})).status_code == 303
    env.client.cookies.set("exitgate_session", copied, path="/ui")
    r = await env.client.get("/ui/")
    assert r.status_code == 303 and r.headers["location"] == "/ui/login"


async def test_cookies_of_the_wrong_shape_redirect_to_sign_in(env: Env) -> None:
    page = await env.client.get("/ui/login")
    login_token = page.cookies.get("exitgate_login_csrf") or env.client.cookies["exitgate_login_csrf"]
    s = _serializer(env)
    shapes = {
        "garbage": "abc", "dots": "a.b.c", "login token": login_token,
        "signed list": s.dumps([1, 2]), "signed string": s.dumps("k"), "signed number": s.dumps(7),
        "signed dict of wrong types": s.dumps({"s": 1, "c": None}), "old shape": s.dumps({"k": "x", "c": "y"}),
        "bad payload": s.make_signer("exitgate-ui").sign(b"!!!not-base64!!!").decode(),
        "unknown session": s.dumps({"s": "nope", "c": "x"}),
    }
    for name, value in shapes.items():
        env.client.cookies.clear()
        env.client.cookies.set("exitgate_session", value, path="/ui")
        for path in ("/ui/", "/ui/missions/lakeland/gates/g1"):
            r = await env.client.get(path)
            assert r.status_code == 303 and r.headers["location"] == "/ui/login", (name, path, r.status_code)
        r = await env.client.post("/ui/logout", data={"csrf": "x"})
        assert r.status_code == 303, (name, r.status_code)
