"""The approver page: server-rendered HTML, plain form POSTs, no JavaScript needed.

People sign in through the organisation's OpenID Connect provider when one is configured
(api/oidc.py), else with a personal API key; either opens a session on the server (the key
registry keeps the hash of its id, the key or the person, and its end); the signed, HTTP-only
cookie carries only the session id and a CSRF token that every form must echo. Signing out ends
the session on the server, so a copy of the cookie is dead too, then sends the browser to sign
out at the provider where it offers that; revoking a key ends its sessions at the next request.
"""

from __future__ import annotations

import hmac
import secrets
import time
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from itsdangerous import BadData, URLSafeTimedSerializer
from pydantic import ValidationError

from lifecycle import authority
from schemas.register import Register
from service import GateView, Refused
from service.keys import Identity, UiSession

from .deps import Parts, parts
from .errors import refusal_status
from .models import ApproveBody, RejectBody, WaiveBody
from .oidc import Pending, Provider, SignInRefused
from .pages.common import templates as pages_templates

router = APIRouter(prefix="/ui", include_in_schema=False)
templates = pages_templates  # one environment: every page has the language and the time filters

SESSION = "exitgate_session"
LOGIN_CSRF = "exitgate_login_csrf"
OIDC_PENDING = "exitgate_oidc"
OIDC_PENDING_MAX_AGE_S = 600  # time to sign in at the provider


def _signer(p: Parts, salt: str = "exitgate-ui") -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(p.settings.session_secret.get_secret_value(), salt=salt)


def _login_signer(p: Parts) -> URLSafeTimedSerializer:
    # Its own salt: the sign-in form's token, though signed, can never pass for a session.
    return _signer(p, "exitgate-ui-login")


def _now_us() -> int:
    return int(time.time() * 1_000_000)


def _cookie_session(request: Request, p: Parts) -> tuple[str, str] | None:
    """(session id, CSRF token) from a well-formed, signed, unexpired cookie; anything else is
    no session (a redirect to sign-in), never an error."""
    cookie = request.cookies.get(SESSION)
    if not cookie:
        return None
    try:
        data = _signer(p).loads(cookie, max_age=p.settings.session_max_age_s)
    except BadData:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("s"), str) or not isinstance(data.get("c"), str):
        return None
    return data["s"], data["c"]


def _signed_in(name: str) -> Identity:
    """A person signed in through the provider: the sign-in names them and gives no roles; what
    they may do comes from the mission's role register (CONTRACT section 5), which the service
    and the workflows consult for every act, as for a person's key."""
    return Identity(key_id="", kind="person", name=name)


def _session(request: Request, p: Parts) -> tuple[Identity, str] | None:
    found = _cookie_session(request, p)
    if found is None:
        return None
    # The server's record decides: a session ended at sign-out stays ended whatever the cookie says.
    row = p.keys.session(found[0], _now_us())
    ident = _session_identity(p, row) if row is not None else None
    if ident is None or ident.kind != "person":
        return None
    return ident, found[1]


def _session_identity(p: Parts, row: UiSession) -> Identity | None:
    if row.person is not None:
        return _signed_in(row.person) if p.settings.oidc_issuer else None
    # With a provider configured the page signs people in there only, so keys' sessions end too.
    return p.keys.by_id(row.key_id) if row.key_id is not None and not p.settings.oidc_issuer else None


def _provider(request: Request, p: Parts) -> Provider | None:
    """The configured identity provider (its discovery kept for the app's life), if any."""
    if not p.settings.oidc_issuer:
        return None
    found: Provider | None = getattr(request.app.state, "oidc", None)
    if found is None or found.settings is not p.settings:
        found = request.app.state.oidc = Provider(p.settings)
    return found


def _pending_signer(p: Parts) -> URLSafeTimedSerializer:
    return _signer(p, "exitgate-ui-oidc")


def _set_cookie(resp: Response, p: Parts, name: str, value: str, max_age: int | None = None) -> None:
    # Lax, not Strict: the provider's redirect back to the callback is a cross-site navigation.
    resp.set_cookie(name, value, max_age=max_age or p.settings.session_max_age_s, httponly=True,
                    secure=p.settings.cookie_secure, samesite="lax", path="/ui")


def _open_session(resp: Response, p: Parts, *, key_id: str | None = None, person: str | None = None,
                  end_hint: str | None = None) -> None:
    ends_at = _now_us() + p.settings.session_max_age_s * 1_000_000
    sid = (p.keys.open_session(key_id, ends_at) if key_id is not None else
           p.keys.open_person_session(str(person), ends_at, end_hint))
    _set_cookie(resp, p, SESSION, _signer(p).dumps({"s": sid, "c": secrets.token_urlsafe(24)}))


def _to_login() -> RedirectResponse:
    return RedirectResponse("/ui/login", status_code=303)


def _csrf_ok(sent: Any, expected: str) -> bool:
    return isinstance(sent, str) and bool(expected) and hmac.compare_digest(sent, expected)


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, error: str | None = None, status: int = 200) -> Response:
    p = parts(request)
    if p.settings.oidc_issuer:
        return templates.TemplateResponse(request, "login.html", {
            "provider": urlsplit(p.settings.oidc_issuer).netloc, "error": error}, status_code=status)
    token = secrets.token_urlsafe(24)
    resp = templates.TemplateResponse(request, "login.html", {"csrf": token, "error": error}, status_code=status)
    _set_cookie(resp, p, LOGIN_CSRF, _login_signer(p).dumps(token))
    return resp


@router.get("/oidc/start")
async def oidc_start(request: Request) -> Response:
    p = parts(request)
    provider = _provider(request, p)
    if provider is None:
        return _to_login()
    try:
        url, pending = await provider.begin()
    except SignInRefused as exc:
        return await login_page(request, exc.message, exc.status)
    resp = RedirectResponse(url, status_code=303)
    _set_cookie(resp, p, OIDC_PENDING, _pending_signer(p).dumps(pending.to_json()), OIDC_PENDING_MAX_AGE_S)
    return resp


@router.get("/oidc/callback")
async def oidc_callback(request: Request) -> Response:
    p = parts(request)
    provider = _provider(request, p)
    if provider is None:
        return _to_login()
    try:
        pending = Pending.from_json(_pending_signer(p).loads(request.cookies.get(OIDC_PENDING, ""),
                                                             max_age=OIDC_PENDING_MAX_AGE_S))
    except BadData:
        pending = None
    try:
        signed_in = await provider.finish(dict(request.query_params), pending)
    except SignInRefused as exc:
        resp = await login_page(request, exc.message, exc.status)
    else:
        resp = RedirectResponse("/ui/", status_code=303)
        _open_session(resp, p, person=signed_in.person, end_hint=signed_in.id_token)
    resp.delete_cookie(OIDC_PENDING, path="/ui")  # one callback per start: a replayed one is refused
    return resp


@router.post("/login")
async def login(request: Request) -> Response:
    p = parts(request)
    if p.settings.oidc_issuer:
        return await login_page(request, "People sign in through the identity provider here, not with a key.", 403)
    form = await request.form()
    try:
        expected = _login_signer(p).loads(request.cookies.get(LOGIN_CSRF, ""), max_age=3600)
    except BadData:
        expected = ""
    if not _csrf_ok(form.get("csrf"), str(expected)):
        return await login_page(request, "The sign-in form expired; please try again.", 403)
    key = form.get("api_key")
    ident = p.keys.verify(key.strip()) if isinstance(key, str) else None
    if ident is None:
        return await login_page(request, "That API key is not valid.", 401)
    if ident.kind != "person":
        return await login_page(request, "That key belongs to a system; approvers sign in with their own key.", 403)
    resp = RedirectResponse("/ui/", status_code=303)
    _open_session(resp, p, key_id=ident.key_id)
    resp.delete_cookie(LOGIN_CSRF, path="/ui")
    return resp


@router.post("/logout")
async def logout(request: Request) -> Response:
    p = parts(request)
    session = _session(request, p)
    form = await request.form()
    if session is None or not _csrf_ok(form.get("csrf"), session[1]):
        return _to_login()
    found = _cookie_session(request, p)
    hint = p.keys.end_session(found[0]) if found is not None else None
    provider = _provider(request, p)
    # Ended here first; then, for a provider's sign-in, at the provider too if it offers that.
    away = await provider.end_session_url(hint) if provider is not None and hint is not None else None
    resp = RedirectResponse(away, status_code=303) if away is not None else _to_login()
    resp.delete_cookie(SESSION, path="/ui")
    return resp


@router.get("/", response_class=HTMLResponse)
async def home(request: Request) -> Response:
    p = parts(request)
    session = _session(request, p)
    if session is None:
        return _to_login()
    ident, csrf = session
    awaiting = await p.service.gates_awaiting(ident.caller)
    return templates.TemplateResponse(request, "index.html", {"me": ident, "csrf": csrf, "awaiting": awaiting})


async def _gate_page(request: Request, p: Parts, ident: Identity, csrf: str, mission: str, gate: str,
                     *, error: str | None = None, done: str | None = None, status: int = 200,
                     view: GateView | None = None) -> Response:
    """The gate's page; `view` when the caller already has it (the answer of an act)."""
    if view is None:
        try:
            view = await p.service.gate(mission, gate)
        except Refused as exc:
            return templates.TemplateResponse(request, "index.html", {
                "me": ident, "csrf": csrf, "awaiting": await p.service.gates_awaiting(ident.caller),
                "error": exc.message}, status_code=refusal_status(exc))
    # What the page offers comes from the register; the workflow decides again when the act arrives.
    reg = await p.service.roles.current(view.mission)
    votes = _acting(reg, ident.name, view.roles, "vote", view.gate)
    waives = _acting(reg, ident.name, view.waiver_roles, "waive", view.gate)
    # Imported here: the pages stand on this module's sessions.
    from .pages.review import remember_view, review_context

    resp = templates.TemplateResponse(request, "gate.html", {
        **await review_context(request, p, ident, view, votes, waives),
        "me": ident, "csrf": csrf, "view": view, "error": error, "done": done,
        "approve_roles": votes,
        # Done when every principal the person may vote for (themself included) has approved.
        "approved_by_me": bool(votes) and {_principal(v, ident.name) for v in votes} <= {
            a.principal or a.person for a in view.approvals},
        "waive_roles": waives,
        "waivable": _waivable(view),
    }, status_code=status)
    remember_view(request, resp, p, ident, view)
    return resp


FOR = " for "  # "deputy for bruno": ids have no spaces, so the choice reads back unambiguously


def _acting(reg: Register, person: str, roles: list[str], kind: authority.ActKind, gate: str) -> list[str]:
    """The page's "as" choices on this gate now, from the register alone: each of `roles` the
    person holds ("deputy"), then each they may use for a principal by a delegation covering
    the act ("deputy for bruno"), so a delegate chooses whom they act for."""
    now, out = _now_us(), []
    for r in sorted(roles):
        if authority.holds(reg, person, r, now):
            out.append(r)
        out += [f"{r}{FOR}{d.delegator}" for d in authority.delegations_of(reg, person, r, now, kind, gate)]
    return list(dict.fromkeys(out))


def _principal(choice: str, person: str) -> str:
    return choice.partition(FOR)[2] or person


def _waivable(view: GateView) -> list[str]:
    if view.evaluation is None:
        return []
    out: list[str] = []

    def walk(node: dict[str, Any], under_not: bool) -> None:
        if node["node"] == "benchmark":
            if not under_not:
                out.append(node["benchmark"])
            return
        for child in node.get("children", ()):
            walk(child, under_not or node["node"] == "not")

    walk(view.evaluation["explanation"], False)
    return out


@router.get("/missions/{mission}/gates/{gate}", response_class=HTMLResponse)
async def gate_page(request: Request, mission: str, gate: str, done: str | None = None) -> Response:
    p = parts(request)
    session = _session(request, p)
    if session is None:
        return _to_login()
    return await _gate_page(request, p, session[0], session[1], mission, gate,
                            done=done if done in ("approve", "reject", "waive") else None)


@router.get("/open")
async def open_gate(mission: str = "", gate: str = "") -> Response:
    """The home page's "open a gate" form; plain GET so it works without JavaScript."""
    from urllib.parse import quote

    return RedirectResponse(f"/ui/missions/{quote(mission, safe='')}/gates/{quote(gate, safe='')}", status_code=303)


_BODIES: dict[str, type[ApproveBody] | type[RejectBody] | type[WaiveBody]] = {
    "approve": ApproveBody, "reject": RejectBody, "waive": WaiveBody}


@router.post("/missions/{mission}/gates/{gate}/{action}")
async def gate_action(request: Request, mission: str, gate: str, action: str) -> Response:
    p = parts(request)
    session = _session(request, p)
    if session is None:
        return _to_login()
    ident, csrf = session
    form = await request.form()
    if not _csrf_ok(form.get("csrf"), csrf):
        return await _gate_page(request, p, ident, csrf, mission, gate, status=403,
                                error="The form expired (CSRF check failed); review the gate and try again.")
    model = _BODIES.get(action)
    if model is None:
        return await _gate_page(request, p, ident, csrf, mission, gate, status=404, error=f"no action {action!r}")
    fields = {k: v for k, v in form.items() if k != "csrf" and isinstance(v, str) and v.strip() != ""}
    if FOR in fields.get("role", ""):
        fields["role"], _, fields["on_behalf_of"] = fields["role"].partition(FOR)
    try:
        body: Any = model.model_validate(fields)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors())
        return await _gate_page(request, p, ident, csrf, mission, gate, status=422, error=problems)
    caller, svc = ident.caller, p.service
    try:
        if isinstance(body, ApproveBody):
            view = await svc.approve(mission, gate, caller, body.role, body.digest, body.comment, body.on_behalf_of)
        elif isinstance(body, RejectBody):
            view = await svc.reject(mission, gate, caller, body.role, body.digest, body.reason, body.on_behalf_of)
        else:
            view = await svc.waive(mission, gate, caller, body.role, body.benchmark, body.justification, body.until,
                                   body.on_behalf_of)
    except Refused as exc:
        return await _gate_page(request, p, ident, csrf, mission, gate, status=refusal_status(exc),
                                error=f"Refused: {exc.message}")
    # The page answers with the gate as the act left it: no second read, no second evaluation.
    return await _gate_page(request, p, ident, csrf, mission, gate, done=action, view=view)
