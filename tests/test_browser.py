"""JupyterLab in a real browser: Debian's Chromium, driven by Playwright, against JupyterLab on
127.0.0.1 with a token and our kernelspec in an isolated prefix, the kernel's channels encrypted
(`transport_encryption=required`).

Everything is checked through the page, as a user would see it: a notebook made from the
launcher's "Lua (sandboxed)" card, printed text, a value, an HTML table, an SVG plot, an error
with its line, the time-limit message, an interrupt from the toolbar that keeps the variables, a
restart that clears them, `input()` answered in the page, Tab completion and Shift+Tab docs.
Then a notebook on the "Python (sandboxed)" kernel (`safe-python`): a variable, a print, a
`_repr_html_` value, `input()`, an interrupt of `while True: pass` from the toolbar (the kernel
and the variable stay), and a memory bomb's clear error.

Run locally: `apt-get install chromium` (or set SAFEKERNEL_CHROMIUM to a Chromium binary),
`pip install -e '.[test]'`, then `python -m pytest -m browser`. Without Chromium or Playwright
the tests skip (and fail under CI=true). A failing test saves a screenshot of the page and
prints its path. Never `playwright install`: the browser comes from the system.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require_python_guest
from tests.servers import free_port, jupyter_env, missing, serve

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = os.environ.get("SAFEKERNEL_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TOKEN = "safekernel-browser-test-token"
# generous: the machine is shared, and a kernel restart in Lab takes a few seconds
WAIT_MS = 60_000


@pytest.fixture(scope="module")
def lab(kernelspec_prefix: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """JupyterLab on 127.0.0.1 with a token; every Jupyter directory in a temporary prefix."""
    if not os.access(CHROMIUM, os.X_OK):
        missing(f"Chromium at {CHROMIUM}")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing("the playwright package (pip install -e '.[test]')")
    if shutil.which("jupyter-lab") is None:
        missing("JupyterLab (pip install -e '.[test]')")

    home = tmp_path_factory.mktemp("lab-home")
    root = home / "notebooks"
    root.mkdir()
    env = {
        **jupyter_env(home, kernelspec_prefix),
        "JUPYTERLAB_SETTINGS_DIR": str(home / "lab-settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "lab-workspaces"),
        "IPYTHONDIR": str(home / "ipython"),
    }
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        f"--IdentityProvider.token={TOKEN}",
        f"--ServerApp.root_dir={root}",
        "--MappingKernelManager.transport_encryption=required",
        "--LabApp.news_url=",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        *(["--allow-root"] if os.geteuid() == 0 else []),
    ]
    url = f"http://127.0.0.1:{port}"

    def answers() -> None:
        with urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=5):
            pass

    with serve(command, env, home / "lab.log", answers, timeout=120):
        yield url


class Notebook:
    """One notebook page, and how a user works in it."""

    def __init__(self, page: Any) -> None:
        self.page = page

    @property
    def cells(self) -> Any:
        return self.page.locator(".jp-NotebookPanel:visible .jp-Notebook .jp-Cell")

    def run(self, code: str, wait: bool = True) -> Any:
        """Type `code` in the last cell and Shift+Enter; the cell (when done, if `wait`)."""
        index = self.cells.count() - 1
        cell = self.cells.nth(index)
        cell.locator(".cm-content").click()
        self.page.keyboard.insert_text(code)  # as pasted: no auto-closing brackets
        self.page.keyboard.press("Shift+Enter")
        if wait:
            self.wait_done(cell)
        return cell

    def wait_done(self, cell: Any) -> None:
        from playwright.sync_api import expect

        expect(cell.locator(".jp-InputArea-prompt")).to_have_text(_re(r"\[\d+\]:"), timeout=WAIT_MS)

    def run_answering(self, code: str, answer: str) -> Any:
        """Run `code`, which asks input(), and type `answer` in the box the page shows."""
        from playwright.sync_api import expect

        cell = self.run(code, wait=False)
        box = cell.locator(".jp-Stdin-input")
        expect(box).to_be_visible(timeout=WAIT_MS)
        box.fill(answer)
        box.press("Enter")
        self.wait_done(cell)
        return cell

    def run_interrupted(self, code: str) -> Any:
        """Run `code`, which prints "spinning" and loops, and interrupt it from the toolbar."""
        from playwright.sync_api import expect

        cell = self.run(code, wait=False)
        expect(_outputs(cell).first).to_contain_text("spinning", timeout=WAIT_MS)
        self.toolbar("interrupt").click()
        self.wait_done(cell)
        expect(_outputs(cell).last).to_contain_text("KeyboardInterrupt")
        return cell

    def toolbar(self, name: str) -> Any:
        return self.page.locator(
            f".jp-NotebookPanel:visible .jp-Toolbar-item[data-jp-item-name='{name}'] button"
        )

    def kernel_idle(self) -> None:
        from playwright.sync_api import expect

        expect(
            self.page.locator(".jp-NotebookPanel:visible .jp-Notebook-ExecutionIndicator")
        ).to_have_attribute("data-status", "idle", timeout=WAIT_MS)


def _re(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="safekernel-chromium-")
    with sync_playwright() as pw:
        # an empty profile of its own (Playwright passes it as --user-data-dir)
        context = pw.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1400, "height": 1000},
        )
        try:
            yield context
        finally:
            context.close()
            shutil.rmtree(profile, ignore_errors=True)


def _open_notebook(browser: Any, url: str, kernel: str) -> Notebook:
    """A new page on `url`, and a notebook made from the launcher's card for `kernel`."""
    from playwright.sync_api import expect

    page = browser.new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(url)
    with _screenshot_on_failure(page, "launcher"):
        card = page.locator(f".jp-LauncherCard[data-category='Notebook'][title='{kernel}']")
        card.click()
        nb = Notebook(page)
        expect(page.locator(".jp-NotebookPanel:visible .jp-KernelName")).to_have_text(kernel)
        nb.kernel_idle()
    return nb


@pytest.fixture(scope="module")
def notebook(lab: str, browser: Any) -> Notebook:
    return _open_notebook(browser, f"{lab}/lab?token={TOKEN}", "Lua (sandboxed)")


@pytest.fixture(scope="module")
def python_notebook(lab: str, browser: Any) -> Notebook:
    """A notebook on the safe-python kernel, in a workspace of its own (a second page on the
    default workspace would share, and fight over, its layout)."""
    require_python_guest()
    return _open_notebook(
        browser, f"{lab}/lab/workspaces/python?token={TOKEN}", "Python (sandboxed)"
    )


def _screenshot(page: Any, name: str) -> None:
    shots = Path(tempfile.gettempdir()) / "safekernel-browser-screenshots"
    shots.mkdir(exist_ok=True)
    path = shots / f"{name}-{int(time.time())}.png"
    try:
        page.screenshot(path=str(path), full_page=True)
    except Exception as exc:
        print(f"\nno screenshot of the failing page: {exc}", file=sys.__stderr__)
    else:
        print(f"\nscreenshot of the failing page: {path}", file=sys.__stderr__)


@contextlib.contextmanager
def _screenshot_on_failure(page: Any, name: str) -> Iterator[None]:
    try:
        yield
    except BaseException:
        _screenshot(page, name)
        raise


@pytest.fixture
def nb(notebook: Notebook, request: pytest.FixtureRequest) -> Iterator[Notebook]:
    """The shared notebook; a screenshot when the test fails (its report is logged before this
    teardown runs, so the session's failure count has moved)."""
    failed_before = request.session.testsfailed
    yield notebook
    if request.session.testsfailed > failed_before:
        _screenshot(notebook.page, request.node.name)


@pytest.fixture
def pynb(python_notebook: Notebook, request: pytest.FixtureRequest) -> Iterator[Notebook]:
    """The shared Python notebook (a screenshot when the test fails, as `nb`)."""
    failed_before = request.session.testsfailed
    yield python_notebook
    if request.session.testsfailed > failed_before:
        _screenshot(python_notebook.page, request.node.name)


def _outputs(cell: Any) -> Any:
    return cell.locator(".jp-OutputArea-output")


def _stdout(cell: Any) -> Any:
    return cell.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stdout']")


def _result(cell: Any) -> Any:
    """The execute_result's rendering (without its `[n]:` prompt)."""
    return cell.locator(".jp-OutputArea-executeResult .jp-OutputArea-output")


def test_printed_text_and_a_value(nb: Notebook) -> None:
    from playwright.sync_api import expect

    cell = nb.run('for i = 1, 3 do print("line " .. i) end\nreturn 6 * 7')
    expect(_stdout(cell)).to_have_text(_re(r"^line 1\s+line 2\s+line 3\s*$"))
    expect(_result(cell)).to_have_text("42")


def test_an_html_table_and_an_svg_plot(nb: Notebook) -> None:
    from playwright.sync_api import expect

    cell = nb.run('{{name = "Ada", born = 1815}, {name = "Alan", born = 1912}}')
    table = cell.locator(".jp-OutputArea-executeResult table")
    expect(table).to_contain_text("Ada")
    expect(table.locator("td", has_text="1912")).to_have_count(1)

    cell = nb.run('plot.line({1, 2, 3}, {1, 4, 9}, {title = "Squares"})')
    # Lab shows an SVG as an <img> of the SVG's text: the browser decoded it (it has a size)
    image = cell.locator(".jp-OutputArea-executeResult .jp-RenderedSVG img")
    expect(image).to_be_visible()
    assert image.evaluate("img => img.complete && img.naturalWidth > 0")
    source = urllib.parse.unquote(image.get_attribute("src") or "")
    assert source.startswith("data:image/svg+xml"), source[:80]
    assert "<svg" in source
    assert "Squares" in source


def test_a_lua_error_names_its_line(nb: Notebook) -> None:
    from playwright.sync_api import expect

    cell = nb.run('local ok = 1\nerror("broken on purpose")')
    expect(_outputs(cell).last).to_contain_text("cell:2: broken on purpose")


def test_the_time_limit_message(nb: Notebook) -> None:
    from playwright.sync_api import expect

    cell = nb.run("%timeout 0.5\nwhile true do end")
    expect(_outputs(cell).last).to_contain_text(
        "time limit exceeded: the cell ran longer than 0.5 s"
    )


def test_interrupt_from_the_toolbar_keeps_variables(nb: Notebook) -> None:
    from playwright.sync_api import expect

    nb.run("kept_in_page = 41")
    nb.run_interrupted("print('spinning') while true do kept_in_page = kept_in_page + 0 end")
    cell = nb.run("kept_in_page + 1")
    expect(_result(cell)).to_have_text("42")


def test_input_answered_in_the_page(nb: Notebook) -> None:
    from playwright.sync_api import expect

    cell = nb.run_answering('local who = input("Your name? ")\nprint("hello, " .. who)', "Ada")
    expect(cell.locator(".jp-OutputArea")).to_contain_text("hello, Ada")


def test_tab_completion_and_shift_tab_docs(nb: Notebook) -> None:
    from playwright.sync_api import expect

    page = nb.page
    cell = nb.cells.nth(nb.cells.count() - 1)
    editor = cell.locator(".cm-content")
    editor.click()
    page.keyboard.insert_text("string.forma")
    page.keyboard.press("Tab")
    # one candidate: Lab inserts it; several: a menu to pick from
    menu = page.locator(".jp-Completer:visible .jp-Completer-item", has_text="format")
    with contextlib.suppress(Exception):
        menu.first.click(timeout=3000)
    expect(editor).to_have_text("string.format")

    page.keyboard.insert_text("(")
    page.keyboard.press("Shift+Tab")
    expect(page.locator(".jp-Tooltip")).to_contain_text("printf")
    page.keyboard.press("Escape")  # closes the tooltip (and leaves the editor)
    editor.click()
    page.keyboard.press("Control+a")
    page.keyboard.press("Backspace")
    expect(editor).to_have_text("")


def test_restart_from_the_toolbar_clears_the_session(nb: Notebook) -> None:
    from playwright.sync_api import expect

    nb.toolbar("restart").click()
    nb.page.locator(".jp-Dialog .jp-mod-accept").click()
    nb.kernel_idle()
    cell = nb.run("print(tostring(kept_in_page))")
    expect(_outputs(cell).first).to_have_text("nil\n")


def test_the_notebook_is_saved_with_the_kernelspec(nb: Notebook, lab: str) -> None:
    """The notebook the page made names our kernel (what a user shares keeps working)."""
    nb.toolbar("save").click()
    nb.page.locator(".jp-Dialog .jp-mod-accept").click()  # "Rename and Save": keep the name
    deadline = time.monotonic() + 30
    while True:
        with urllib.request.urlopen(f"{lab}/api/contents?token={TOKEN}") as resp:
            listing = json.load(resp)
        names = [item["path"] for item in listing["content"] if item["type"] == "notebook"]
        assert len(names) == 1, listing
        with urllib.request.urlopen(f"{lab}/api/contents/{names[0]}?token={TOKEN}") as resp:
            saved = json.load(resp)["content"]
        if "kernelspec" in saved["metadata"] or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert saved["metadata"]["kernelspec"]["name"] == "safe"
    assert saved["metadata"]["kernelspec"]["display_name"] == "Lua (sandboxed)"
    sources = ["".join(c["source"]) for c in saved["cells"]]
    assert "kept_in_page = 41" in sources


def test_html_and_markdown_outputs_cannot_run_script(nb: Notebook) -> None:
    # Lab trusts a live session's outputs: before the kernel sanitised them, this script ran
    # (and could read the page's token and write files through /api/contents)
    from playwright.sync_api import expect

    marker = "document.body.dataset.skPwned = 'yes'"
    cell = nb.run(
        "display.html(\"<table class='sk-kept'><tr><td>safe cell</td></tr></table>"
        f"<script>document.title = 'pwned'; {marker}</script>"
        f"<img class='sk-img' src='nowhere.png' onerror=\\\"{marker}\\\">\")\n"
        f"display.markdown(\"<img class='sk-md' src='nowhere.png' onerror=\\\"{marker}\\\">\")"
    )
    expect(cell.locator("table.sk-kept td")).to_have_text("safe cell")
    # the broken image (kept, without its handler) has fired its error event by now
    nb.page.wait_for_function(
        "() => [...document.querySelectorAll('img.sk-img')].every(i => i.complete)"
    )
    assert nb.page.title() != "pwned"
    assert nb.page.evaluate("document.body.dataset.skPwned") is None
    expect(cell.locator(".jp-RenderedMarkdown")).to_contain_text("<img class='sk-md'")
    expect(cell.locator(".jp-OutputArea")).to_contain_text("removed a script")


# -- the Python kernel -------------------------------------------------------------------------


def test_python_variable_print_and_html_value(pynb: Notebook) -> None:
    from playwright.sync_api import expect

    cell = pynb.run(
        "answer = 6 * 7\nprint('hello from python')\n"
        "class Bold:\n    def _repr_html_(self):\n        return '<b class=\"py-bold\">bold</b>'\n"
        "Bold()"
    )
    expect(_stdout(cell)).to_have_text("hello from python\n")
    # the HTML is rendered (an element of the page), not shown as text
    expect(cell.locator(".jp-OutputArea-executeResult b.py-bold")).to_have_text("bold")
    cell = pynb.run("answer")
    expect(_result(cell)).to_have_text("42")


def test_python_input_answered_in_the_page(pynb: Notebook) -> None:
    from playwright.sync_api import expect

    cell = pynb.run_answering("who = input('Your name? ')\nprint('hello, ' + who)", "Ada")
    expect(cell.locator(".jp-OutputArea")).to_contain_text("hello, Ada")


def test_python_interrupt_from_the_toolbar_keeps_variables(pynb: Notebook) -> None:
    from playwright.sync_api import expect

    pynb.run_interrupted("print('spinning')\nwhile True:\n    pass")
    cell = pynb.run("answer + 1")
    expect(_result(cell)).to_have_text("43")


def test_python_memory_bomb_is_a_clear_error(pynb: Notebook) -> None:
    from playwright.sync_api import expect

    cell = pynb.run("%memory 64M\nblocks = []\nwhile True:\n    blocks.append(bytearray(1 << 20))")
    expect(_outputs(cell).last).to_contain_text(
        "memory limit exceeded: the cell needed more than 64 MB"
    )
    cell = pynb.run("del blocks\nanswer")
    expect(_result(cell)).to_have_text("42")
