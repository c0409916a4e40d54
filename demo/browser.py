"""Drive the demo in a real headless Chromium (Playwright): used by tests/test_demo_browser.py
and to take the README screenshot:

    python -m demo.browser --exp DIR --wav CLIP.wav --out demo/screenshot.png

The server runs in a subprocess on 127.0.0.1 and a free port. Playwright drives the Debian
`chromium` binary (never a downloaded browser), with networking extras switched off.
"""

import argparse
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
FAKE_MICROPHONE_ARGS = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]
RESULT_RE = "/Done:|Error:/"


def chromium_path():
    """The Debian chromium binary, or None."""
    for p in ("/usr/bin/chromium", shutil.which("chromium") or "", shutil.which("chromium-browser") or ""):
        if p and os.access(p, os.X_OK):
            return p
    return None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def demo_server(exp_dirs, port=None, timeout=90.0, log_path=None, shipped=True):
    """Start `audiotok demo` on 127.0.0.1 in a subprocess; yield its URL; stop it after."""
    port = port or free_port()
    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False", OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    env.pop("GRADIO_TEMP_DIR", None)  # the server makes (and removes) its own
    cmd = [sys.executable, "-m", "audiotok.cli", "demo", "--host", "127.0.0.1", "--port", str(port)]
    if exp_dirs:
        cmd += ["--exp", *map(str, exp_dirs)]
    if not shipped:
        cmd.append("--no-shipped")
    log = open(log_path, "w") if log_path else subprocess.DEVNULL
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.time() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"demo server exited with {proc.returncode} (see {log_path})")
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.time() > deadline:
                raise RuntimeError(f"demo server did not answer on {url} within {timeout:.0f} s")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if log_path:
            log.close()


@contextlib.contextmanager
def browser_page(width=1280, height=900, fake_microphone=False):
    """A Playwright page in headless Debian Chromium; `page.outside` lists any request that left 127.0.0.1.
    fake_microphone: Chromium's built-in test device (a beeping tone) stands in for a microphone."""
    from playwright.sync_api import sync_playwright

    exe = chromium_path()
    if exe is None:
        raise RuntimeError("chromium not found (apt-get install chromium)")
    args = CHROMIUM_ARGS + (FAKE_MICROPHONE_ARGS if fake_microphone else [])
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, args=args)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.outside = []

            def note(req):
                if not req.url.startswith(("http://127.0.0.1", "data:", "blob:")):
                    page.outside.append(req.url)

            page.on("request", note)
            yield page
        finally:
            browser.close()


def upload(page, component_id, path):
    """Put a file into a gr.Audio input, clearing what it held before."""
    clear = page.locator(f"#{component_id} button[aria-label='Clear']")
    if clear.count():
        clear.first.click()
    page.locator(f"#{component_id} input[type=file]").set_input_files(str(path))
    # the player shows up once the upload has reached the server
    page.wait_for_selector(f"#{component_id} audio", state="attached", timeout=30000)


def record(page, component_id, seconds=1.5):
    """Record `seconds` from the microphone into a gr.Audio input (see browser_page(fake_microphone=True))."""
    clear = page.locator(f"#{component_id} button[aria-label='Clear']")
    if clear.count():
        clear.first.click()
    page.click(f"#{component_id} button[aria-label='Record audio']")
    page.locator(f"#{component_id} button:has-text('Record')").first.click()
    page.wait_for_timeout(int(seconds * 1000))
    page.locator(f"#{component_id} button:has-text('Stop')").first.click()
    page.wait_for_selector(f"#{component_id} audio", state="attached", timeout=30000)


def status_text(page, status_id):
    """The text of a status Markdown (without Gradio's progress overlay)."""
    return page.inner_text(f"#{status_id} [data-testid=markdown]").strip()


def run_and_wait(page, button_id, status_id, timeout_ms=120000):
    """Click a run button, wait until its status line says Done or Error anew; return that line."""
    md = f"document.querySelector('#{status_id} [data-testid=markdown]')"
    page.evaluate(f"{md}.dataset.before = {md}.innerText")
    page.click(f"#{button_id}")
    page.wait_for_function(
        f"(() => {{ const e = {md}; const w = e.closest('[data-testid=markdown-wrapper]');"
        f" return !w.classList.contains('pending') && {RESULT_RE}.test(e.innerText)"
        f" && e.innerText !== e.dataset.before; }})()",
        timeout=timeout_ms)
    return status_text(page, status_id)


def audio_duration(page, component_id, near=None, tol=0.01, timeout_ms=30000):
    """Duration (s) of the audio a gr.Audio output plays, once the browser has decoded it. The
    player's <audio> lives in wavesurfer's shadow root: Playwright's CSS locators pierce it. With
    `near`, waits for a duration within `tol` of it (a replaced clip loads after the status line)
    and returns the last one seen either way."""
    loaded = "els => els.filter(e => e.src && isFinite(e.duration) && e.duration > 0).map(e => e.duration)"
    deadline = time.time() + timeout_ms / 1000
    while True:
        found = page.locator(f"#{component_id} audio").evaluate_all(loaded)
        if found and (near is None or abs(found[0] - near) <= tol):
            return found[0]
        if time.time() > deadline:
            break
        page.wait_for_timeout(200)
    if not found:
        raise TimeoutError(f"no playable audio in #{component_id} after {timeout_ms} ms")
    return found[0]


def screenshot(page, path, colors=None):
    """Full-page PNG; with `colors` it is quantised to that many palette colours (a README-size file)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    if colors:
        from PIL import Image

        with Image.open(path) as im:
            small = im.convert("RGB").quantize(colors=colors, method=Image.Quantize.MEDIANCUT)
        small.save(path, optimize=True)
    return Path(path)


def main(argv=None):
    p = argparse.ArgumentParser(description="Screenshot the demo's codec tab after one encode/decode.")
    p.add_argument("--exp", nargs="+", default=[], help="model dirs (default: what the recipes produced)")
    p.add_argument("--wav", required=True, help="clip to upload")
    p.add_argument("--out", default=str(REPO / "demo" / "screenshot.png"))
    p.add_argument("--n-q", type=int, default=None, help="codebooks to set before running")
    p.add_argument("--colors", type=int, default=128, help="palette colours of the PNG (0: keep full colour)")
    args = p.parse_args(argv)
    with demo_server(args.exp, log_path="/tmp/audiotok-demo-screenshot.log") as url, browser_page() as page:
        page.goto(url)
        page.wait_for_selector("#codec-run", timeout=60000)
        upload(page, "codec-input", args.wav)
        if args.n_q:
            page.fill("#codec-nq input[type=number]", str(args.n_q))
            page.keyboard.press("Enter")
        print(run_and_wait(page, "codec-run", "codec-status"))
        page.wait_for_timeout(500)  # let the players draw their waveforms
        out = screenshot(page, args.out, colors=args.colors)
        print(f"{out} ({out.stat().st_size // 1024} KB)")
        if page.outside:
            print("requests that left 127.0.0.1:", page.outside, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
