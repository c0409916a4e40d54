"""The demo in a real browser: `audiotok demo` serves a tiny random-weight DualCodec on
127.0.0.1; headless Debian Chromium (Playwright) uploads a clip, runs the codec, hears the
reconstruction come back, gets a one-line error for a corrupt file, and the app keeps serving.
A screenshot goes to tests/artifacts/demo_codec.png. Skipped (with the reason shown as a
warning) only where Chromium or Playwright is missing."""

import importlib.util
import math
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from audiotok.tokfile import decode_token_bytes

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from demo.browser import (audio_duration, browser_page, chromium_path, demo_server, run_and_wait,  # noqa: E402
                          screenshot, status_text, upload)


def _skip(reason):
    warnings.warn(f"test_demo_browser skipped: {reason}")
    pytest.skip(reason, allow_module_level=True)


if chromium_path() is None:
    _skip("Chromium not found (/usr/bin/chromium); install it with apt-get install chromium")
if importlib.util.find_spec("playwright") is None:
    _skip("the playwright package is missing: pip install -e '.[dev]'")

ARTIFACTS = REPO / "tests" / "artifacts"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from audiotok.models.loading import save_model_dir
    from test_demo_handlers import tiny_codec

    d = tmp_path_factory.mktemp("browser")
    torch.set_num_threads(1)
    model_dir = save_model_dir(tiny_codec(), d / "tiny_codec")
    t = np.arange(16000) / 16000
    clip = d / "clip.wav"
    sf.write(clip, (0.2 * np.sin(2 * math.pi * 220 * t) * (0.6 + 0.4 * np.sin(2 * math.pi * 3 * t))).astype(
        np.float32), 16000)
    bad = d / "bad.wav"
    bad.write_bytes(clip.read_bytes()[:12] + b"junk" * 20)  # a RIFF/WAVE header, then garbage
    return model_dir, clip, bad


def test_codec_tab_in_a_browser(files, tmp_path):
    model_dir, clip, bad = files
    with demo_server([model_dir], log_path=tmp_path / "server.log") as url, browser_page() as page:
        page.goto(url)
        page.wait_for_selector("#codec-run", timeout=60000)
        assert "tiny_codec" in page.inner_text("body")
        # tabs without their model say so and how to make one
        page.get_by_role("tab", name="ASR").click()
        assert "No LM loaded" in page.inner_text("body") and "egs/mini_synth/lm1/run.sh" in page.inner_text("body")
        page.get_by_role("tab", name="Music").click()
        assert "No music tokenizer loaded" in page.inner_text("body")
        page.get_by_role("tab", name="Codec").click()

        # the bitrate control: 3 of 4 codebooks = 12.5 Hz * (6 + 5 + 5) bits = 0.200 kbps
        page.fill("#codec-nq input[type=number]", "3")
        page.keyboard.press("Enter")
        page.wait_for_function("document.querySelector('#codec-rate').innerText.includes('3 of 4 codebooks')")
        assert "0.200 kbps" in page.inner_text("#codec-rate")

        upload(page, "codec-input", clip)
        status = run_and_wait(page, "codec-run", "codec-status")
        assert status.startswith("Done: 1.00 s at 0.200 kbps (3 of 4 codebooks)")
        assert audio_duration(page, "codec-recon") == pytest.approx(1.0, abs=0.01)
        assert audio_duration(page, "codec-original") == pytest.approx(1.0, abs=0.01)
        # the .atok download link serves the real token file
        href = page.locator("#codec-atok a[href*='.atok']").first.get_attribute("href")
        assert href.endswith("/clip_dualcodec_q3.atok")
        tokens, header = decode_token_bytes(page.request.get(href).body())
        assert {k: tuple(v.shape) for k, v in tokens.items()} == {"semantic": (1, 13), "acoustic": (2, 13)}
        assert header["n_q"] == 3 and header["original_length"] == 24000
        for img in ("codec-spec-original", "codec-spec-recon", "codec-tokens"):
            page.wait_for_function(f"(() => {{ const i = document.querySelector('#{img} img');"
                                   " return i && i.complete && i.naturalWidth > 100; })()")
        assert "| tokens/s" not in page.inner_text("#codec-stats")  # rendered as a table, not raw markdown
        assert "37.5" in page.inner_text("#codec-stats")
        ARTIFACTS.mkdir(exist_ok=True)
        screenshot(page, ARTIFACTS / "demo_codec.png")

        # a corrupt upload: one line naming the file, outputs cleared, no traceback
        upload(page, "codec-input", bad)
        status = run_and_wait(page, "codec-run", "codec-status")
        assert status.startswith("Error: bad.wav: corrupt WAV header") and "Traceback" not in status
        assert page.locator("#codec-recon audio").evaluate_all("els => els.filter(e => e.src).length") == 0
        screenshot(page, ARTIFACTS / "demo_codec_error.png")

        # and the app keeps serving: the semantic layer alone
        upload(page, "codec-input", clip)
        page.check("#codec-semantic input[type=checkbox]")
        status = run_and_wait(page, "codec-run", "codec-status")
        assert status.startswith("Done: 1.00 s at 0.075 kbps (1 of 4 codebooks, semantic layer only)")
        assert audio_duration(page, "codec-recon") == pytest.approx(1.0, abs=0.01)
        assert status_text(page, "codec-status") == status
        assert page.outside == []  # nothing left 127.0.0.1: no analytics, fonts or CDN
    assert "Traceback" not in (tmp_path / "server.log").read_text()
