"""The notebook view in a real browser (issue 16): Debian's Chromium, driven by Playwright.

A cell the SDK runs appears live with its chart and table; a cell run from the page is the
sandbox's (the SDK reads its variable); an HTML result's script reaches neither the page nor the
API; the key moves from the address into a cookie no script can read; the cookie alone changes
nothing (a request from another page would have only that)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from interpreter_sdk import Sandbox
from tests.conftest import Server

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHART = (
    "import matplotlib.pyplot as plt, pandas as pd\n"
    "df = pd.DataFrame({'city': ['Oslo', 'Lima'], 'n': [3, 5]})\n"
    "plt.bar(df.city, df.n); plt.show()\n"
    "df"
)
# Tries the page's cookie and the API from inside an HTML result; says what it got in its title.
PROBE = """
from IPython.display import HTML, display
display(HTML('''<p id=probe>probe</p><script>
let found = [];
try { found.push('cookie:' + document.cookie); } catch (e) { found.push('cookie:denied'); }
try { found.push('parent:' + parent.document.title); } catch (e) { found.push('parent:denied'); }
fetch('/v1/sandboxes', {credentials: 'include'})
  .then(r => found.push('api:' + r.status), () => found.push('api:blocked'))
  .finally(() => { document.getElementById('probe').textContent = found.join(' '); });
</script>'''))
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        # Root here: Chromium's own sandbox needs an unprivileged user; the page is ours.
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    yield context.new_page()
    context.close()


def signed_in(page: Page, server: Server, path: str) -> None:
    page.goto(f"{server.url}{path}?key={server.api_key}")
    assert "key=" not in page.url  # moved into the cookie, out of the address and history
    (cookie,) = [c for c in page.context.cookies() if c["name"] == "interpreter_session"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert server.api_key not in cookie["value"]


def test_cells_appear_live_and_the_page_runs_code(
    page: Page, server: Server, sandbox: Sandbox
) -> None:
    sandbox.run_code("before = 'opened later'")
    signed_in(page, server, f"/ui/sandboxes/{sandbox.sandbox_id}")
    cells = page.locator("article.cell")
    expect(cells).to_have_count(1)  # what ran before the page opened: the history
    expect(cells.first.locator("pre.code")).to_have_text("before = 'opened later'")

    sandbox.run_code(CHART)  # through the SDK, while the page is open
    expect(cells).to_have_count(2)
    chart = cells.nth(1)
    expect(chart).to_have_attribute("data-status", "ok")
    image = chart.locator("img")
    expect(image).to_have_count(1)
    assert image.get_attribute("src").startswith("data:image/png;base64,iVBOR")  # type: ignore[union-attr]
    table = page.frame_locator("article.cell >> nth=1 >> iframe").locator("table")
    expect(table).to_contain_text("Oslo")

    page.fill("#code", "from_page = 40 + 2\nfrom_page")
    page.click("#run")
    expect(cells).to_have_count(3)
    expect(cells.nth(2).locator(".outputs")).to_have_text("42")
    assert sandbox.run_code("from_page").text == "42"  # the page's cell ran in the sandbox


def test_an_html_results_script_reaches_neither_the_page_nor_the_api(
    page: Page, server: Server, sandbox: Sandbox
) -> None:
    signed_in(page, server, f"/ui/sandboxes/{sandbox.sandbox_id}")
    sandbox.run_code(PROBE)
    probe = page.frame_locator("article.cell iframe").locator("#probe")
    expect(probe).to_contain_text("api:")
    said = probe.text_content() or ""
    assert "cookie:denied" in said and "parent:denied" in said and "api:blocked" in said, said


def test_the_page_asks_for_the_key_and_names_an_unknown_sandbox(page: Page, server: Server) -> None:
    page.goto(f"{server.url}/ui/")
    page.fill("input[name=key]", "not-the-key")
    page.click("main form button")
    expect(page.locator("[data-slot=error]")).to_be_visible()
    page.fill("input[name=key]", server.api_key)
    page.click("main form button")
    expect(page.locator("table")).to_be_visible()
    page.goto(f"{server.url}/ui/sandboxes/no-such-sandbox")
    expect(page.locator("#problem")).to_contain_text("not found")


def test_the_session_cookie_alone_changes_nothing(server: Server, sandbox: Sandbox) -> None:
    with httpx.Client(base_url=server.url) as client:
        client.get("/ui/", params={"key": server.api_key})
        assert client.cookies.get("interpreter_session")
        assert client.get(f"/v1/sandboxes/{sandbox.sandbox_id}").status_code == 200  # reads
        path = f"/v1/sandboxes/{sandbox.sandbox_id}/timeout"
        # What another site's page could send with the cookie: a form's POST.
        assert client.post(path, json={"timeout": 300}).status_code == 401
        answer = client.post(path, json={"timeout": 300}, headers={"X-Interpreter-UI": "1"})
        assert answer.status_code == 200, answer.text
        # Only what the page calls: a sandbox's port would run its page on this origin.
        ports = f"/v1/sandboxes/{sandbox.sandbox_id}/ports/8000/"
        assert client.get(ports).status_code == 401
        assert client.get("/v1/snapshots").status_code == 401
        cookie = client.cookies["interpreter_session"]
        expires, nonce, mac = cookie.split(".")
        client.cookies.set("interpreter_session", f"{int(expires) + 1}.{nonce}.{mac}")
        assert client.get(f"/v1/sandboxes/{sandbox.sandbox_id}").status_code == 401
        client.cookies.set("interpreter_session", "0" * 64)
        assert client.get(f"/v1/sandboxes/{sandbox.sandbox_id}").status_code == 401


def test_a_shared_link_shows_one_sandbox_read_only(
    page: Page, server: Server, sandbox_factory: object
) -> None:
    shared, other = sandbox_factory(), sandbox_factory()  # type: ignore[operator]
    shared.run_code("print('for the reviewer')")
    with server.client() as client:
        answer = client.post(f"/v1/sandboxes/{shared.sandbox_id}/notebook/share")
        assert answer.status_code == 200, answer.text
        link = answer.json()["url"]
        assert server.api_key not in link
        expired = client.post(
            f"/v1/sandboxes/{shared.sandbox_id}/notebook/share", params={"expires_in": 0}
        )
        assert expired.status_code == 400
    page.goto(f"{server.url}{link}")
    expect(page.locator("#shared")).to_be_visible()
    expect(page.locator("article.cell .outputs")).to_have_text("for the reviewer\n")
    expect(page.locator("#code")).to_have_count(0)  # no controls
    expect(page.locator("article.cell button")).to_have_count(0)
    # The view's cookie opens that sandbox's view, and nothing else.
    request = page.context.request
    base = f"{server.url}/v1/sandboxes"
    assert request.get(f"{base}/{shared.sandbox_id}/cells").status == 200
    assert request.get(f"{base}/{shared.sandbox_id}/files/list?path=/home/user").status == 401
    assert request.get(f"{base}/{other.sandbox_id}/cells").status == 401
    assert request.get(base).status == 401
    assert request.delete(f"{base}/{shared.sandbox_id}").status == 401
    assert shared.run_code("1 + 1").text == "2"  # still there
    page.goto(f"{server.url}/ui/share/not-a-token")
    expect(page.locator("body")).to_contain_text("does not open a view")


def test_markdown_and_latex_are_rendered_with_what_the_service_bundles(
    page: Page, server: Server, sandbox: Sandbox
) -> None:
    fetched: list[str] = []
    page.on("request", lambda request: fetched.append(request.url))
    signed_in(page, server, f"/ui/sandboxes/{sandbox.sandbox_id}")
    sandbox.run_code(
        "from IPython.display import Latex, Markdown, display\n"
        "display(Markdown('## Totals\\n- **bold** item'))\n"
        "display(Latex(r'$$\\frac{a}{b} + \\sqrt{x}$$'))"
    )
    cell = page.locator("article.cell")
    expect(cell.locator(".md h2")).to_have_text("Totals")
    expect(cell.locator(".md li strong")).to_have_text("bold")
    expect(cell.locator(".latex .katex .mfrac")).to_have_count(1)  # typeset, not source
    assert all(url.startswith(server.url) for url in fetched), fetched  # no CDN
