"""The notebook view: /ui/ (the sandboxes) and /ui/sandboxes/{id} (one, live), a page and its
script and styles from interpreter/ui/ (nothing fetched from elsewhere: the host may have no
internet). The page calls the native API as any client does; its key is entered once (the form,
or ``?key=`` in the address, which is then removed from it) and kept as an HttpOnly session
cookie (interpreter/api/deps.py) the page's script, and any HTML a result shows, cannot read."""

from __future__ import annotations

import hmac
import html
import time
from pathlib import Path
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse

from interpreter.api.deps import SESSION_SECONDS, session_token
from interpreter.core.errors import InterpreterError
from interpreter.service.manager import SandboxManager
from interpreter.service.ports import SESSION_COOKIE, VIEW_COOKIE

ASSETS = Path(__file__).resolve().parents[1] / "ui"
ASSET_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
KATEX = ASSETS / "node_modules" / "katex" / "dist"
VENDOR_TYPES = {**ASSET_TYPES, ".woff2": "font/woff2", ".woff": "font/woff", ".ttf": "font/ttf"}
# The page runs only its own script; results' HTML is shown in sandboxed frames (srcdoc).
PAGE_POLICY = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
    "frame-src 'self' data: blob:; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)

router = APIRouter(prefix="/ui", include_in_schema=False)


def _page(request: Request) -> Response:
    key = request.query_params.get("key")
    if key is not None:  # moved into the cookie, and out of the address bar and history
        rest = urlencode([(k, v) for k, v in request.query_params.multi_items() if k != "key"])
        target = request.url.path + (f"?{rest}" if rest else "")
        response: Response = RedirectResponse(target, status_code=303)
        if _valid(request, key):
            _start_session(request, response)
        return response
    page = (ASSETS / "index.html").read_text(encoding="utf-8")
    return HTMLResponse(page, headers=_headers())


def _headers() -> dict[str, str]:
    return {
        "Content-Security-Policy": PAGE_POLICY,
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
    }


def _valid(request: Request, key: str) -> bool:
    expected: str = request.app.state.api_key
    return hmac.compare_digest(key.encode(), expected.encode())


def _start_session(request: Request, response: Response) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        session_token(request.app.state.api_key),
        max_age=SESSION_SECONDS,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


@router.get("/", response_class=HTMLResponse)
async def sandboxes_page(request: Request) -> Response:
    return _page(request)


@router.get("/sandboxes/{sandbox_id}", response_class=HTMLResponse)
async def sandbox_page(request: Request, sandbox_id: str) -> Response:
    return _page(request)


@router.post("/session")
async def start_session(request: Request, key: Annotated[str, Form()]) -> Response:
    """The key form: a session cookie, then back to the page (the form again, saying so, if
    the key is wrong)."""
    if not _valid(request, key):
        return RedirectResponse("/ui/?error=key", status_code=303)
    back = request.query_params.get("next", "/ui/")
    response = RedirectResponse(back if back.startswith("/ui/") else "/ui/", status_code=303)
    _start_session(request, response)
    return response


@router.get("/share/{token}")
async def open_shared_view(request: Request, token: str) -> Response:
    """A shared link: its grant becomes this browser's view cookie (HttpOnly, that sandbox's
    view only, until the link expires), then the view, read-only."""
    sandboxes: SandboxManager = request.app.state.manager
    try:
        grant = sandboxes.signer.verify(token, "view")
    except InterpreterError as exc:
        why = html.escape(str(exc))
        page = f"<p>This link does not open a view: {why}</p>"
        return HTMLResponse(page, status_code=403, headers=_headers())
    response = RedirectResponse(f"/ui/sandboxes/{grant.sandbox_id}?view=shared", status_code=303)
    response.set_cookie(
        VIEW_COOKIE, token, max_age=max(1, grant.expires - int(time.time())), path="/",
        httponly=True, samesite="strict", secure=request.url.scheme == "https",
    )  # fmt: skip
    return response


@router.post("/logout")
async def end_session() -> Response:
    response = RedirectResponse("/ui/", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/vendor/katex/{path:path}")
async def katex_asset(path: str) -> Response:
    """KaTeX's script, styles and fonts (scripts/setup.sh installs them from npm)."""
    parts = path.split("/")
    file = KATEX.joinpath(*parts)
    kind = VENDOR_TYPES.get(file.suffix)
    if kind is None or any(p in ("", ".", "..") for p in parts) or not file.is_file():
        return Response(status_code=404)
    return FileResponse(file, media_type=kind, headers={"Cache-Control": "max-age=86400"})


@router.get("/assets/{name}")
async def asset(name: str) -> Response:
    path = ASSETS / name
    kind = ASSET_TYPES.get(path.suffix)
    if kind is None or "/" in name or name.startswith(".") or not path.is_file():
        return Response(status_code=404)
    return FileResponse(path, media_type=kind, headers={"Cache-Control": "no-cache"})
