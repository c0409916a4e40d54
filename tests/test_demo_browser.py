"""The demo in a real browser: `audiotok demo` serves a tiny random-weight DualCodec and a tiny
unified LM on 127.0.0.1; headless Debian Chromium (Playwright) uploads a clip, runs the codec,
hears the reconstruction come back, downloads the .atok, gets a one-line error for a corrupt
file, keeps going, then transcribes (ASR tab) and speaks (TTS tab); no request leaves the
machine. Screenshots go to tests/artifacts/. Skipped (with the reason shown as a
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

from demo.browser import (audio_duration, browser_page, chromium_path, demo_server, record,  # noqa: E402
                          run_and_wait, screenshot, status_text, upload)


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
    lm_dir = d / "tiny_lm"
    tiny_lm(d).save_pretrained(lm_dir)
    save_model_dir(tiny_codec(), lm_dir / "codec")  # packed with its codec, as the lm1 recipe does
    t = np.arange(16000) / 16000
    clip = d / "clip.wav"
    sf.write(clip, (0.2 * np.sin(2 * math.pi * 220 * t) * (0.6 + 0.4 * np.sin(2 * math.pi * 3 * t))).astype(
        np.float32), 16000)
    bad = d / "bad.wav"
    bad.write_bytes(clip.read_bytes()[:12] + b"junk" * 20)  # a RIFF/WAVE header, then garbage
    return model_dir, lm_dir, clip, bad


def tiny_lm(d):
    """A tiny unified LM (random weights) over the tiny codec's tokens."""
    from audiotok.models.ulm import UnifiedLM
    from audiotok.models.ulm_vocab import JointVocab, train_text_model
    from test_demo_handlers import SENTENCES

    sp = train_text_model(SENTENCES * 4, d / "bpe.model", vocab_size=40)
    vocab = JointVocab.from_text_model(sp, semantic_size=64, acoustic_size=32, n_acoustic=2)
    torch.manual_seed(0)
    return UnifiedLM(vocab, lm={"dim": 32, "n_layers": 2, "n_heads": 4, "n_kv_heads": 2}, grouping={"size": 2},
                     frame_rate=12.5, srh={"dim": 16, "n_layers": 1, "n_heads": 2}, prompt_frames=4)


def test_tabs_without_their_model_say_how_to_get_one(tmp_path):
    from demo.app import build_app
    from demo.models import ModelStore

    app = build_app(ModelStore([]), tmp_path)
    notes = [c["props"].get("value") for c in app.config["components"] if c.get("type") == "markdown"]
    text = "\n".join(str(n) for n in notes)
    assert "**No trained models found.** To get one: run `make mini`" in text
    assert "**No codec loaded.**" in text and "**No music tokenizer loaded.**" in text
    assert text.count("**No LM loaded.** To get one: run egs/mini_synth/lm1/run.sh") == 2  # ASR and TTS


def test_demo_in_a_browser(files, tmp_path):
    model_dir, lm_dir, clip, bad = files
    # the tiny models only (--no-shipped); the shipped codec's place in the list: test_demo_handlers
    server = demo_server([model_dir, lm_dir], log_path=tmp_path / "server.log", shipped=False)
    with server as url, browser_page(fake_microphone=True) as page:
        page.goto(url)
        page.wait_for_selector("#codec-run", timeout=60000)
        assert "Loaded: tiny_codec (dualcodec); tiny_lm (ulm)" in page.inner_text("body")  # its codec/ is the same
        # a tab without its model says so and how to make one
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
        assert audio_duration(page, "codec-recon", near=1.0) == pytest.approx(1.0, abs=0.01)
        assert audio_duration(page, "codec-original", near=1.0) == pytest.approx(1.0, abs=0.01)
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
        assert audio_duration(page, "codec-recon", near=1.0) == pytest.approx(1.0, abs=0.01)
        assert status_text(page, "codec-status") == status

        # a recording from the microphone (Chromium's test device: a beep) goes the same way
        record(page, "codec-input", 1.5)
        page.uncheck("#codec-semantic input[type=checkbox]")
        status = run_and_wait(page, "codec-run", "codec-status")
        seconds = float(status.split()[1])
        assert status.startswith("Done: ") and "(3 of 4 codebooks)" in status and 1.0 < seconds < 5.0
        assert audio_duration(page, "codec-recon", near=seconds) == pytest.approx(seconds, abs=0.01)

        # ASR: speech -> the codec's semantic tokens (1 s with the corpus's 0.15 s of silence at each end, at
        # 12.5 Hz: 17) -> text
        page.get_by_role("tab", name="ASR").click()
        upload(page, "asr-input", clip)
        assert run_and_wait(page, "asr-run", "asr-status").startswith("Done: 1.00 s -> 17 semantic tokens")
        # TTS: text -> semantic tokens -> speech of exactly that many codec frames
        page.get_by_role("tab", name="TTS").click()
        page.fill("#tts-text textarea", "the cat sat on the mat")
        assert not page.is_checked("#tts-sample input[type=checkbox]")  # greedy unless asked to sample
        page.check("#tts-sample input[type=checkbox]")
        status = run_and_wait(page, "tts-run", "tts-status")
        frames = int(status.split(" semantic tokens")[0].split()[-1])
        assert status.startswith("Done: ")
        assert audio_duration(page, "tts-output", near=frames / 12.5) == pytest.approx(frames / 12.5)
        assert page.outside == []  # nothing left 127.0.0.1: no analytics, fonts or CDN
    assert "Traceback" not in (tmp_path / "server.log").read_text()


def test_a_fresh_install_demo_offers_the_shipped_codec(tmp_path):
    with demo_server([], log_path=tmp_path / "server.log") as url, browser_page(fake_microphone=True) as page:
        page.goto(url)
        page.wait_for_selector("#codec-run", timeout=60000)
        assert "speech-12hz-v1 (shipped) (dualcodec)" in page.inner_text("body")
        page.wait_for_function("document.querySelector('#codec-rate').innerText.includes('kbps')")
        assert "0.900 kbps" in page.inner_text("#codec-rate")  # all 7 codebooks by default

        # the live tab: the (fake) microphone streams through the causal codec as it records
        page.get_by_role("tab", name="Live").click()
        page.locator("#live-input button:has-text('Record')").first.click()
        page.wait_for_function("document.querySelector('#live-status').innerText.includes('Live: ')",
                               timeout=180000)  # over 60 s once: the suite's two workers and a training on 2 cores
        # record until ten frames are coded (about 0.8 s of audio; a loaded machine streams slower)
        page.wait_for_function("(+((document.querySelector('#live-status').innerText.match(/(\\d+) frames coded/)"
                               " || [0, 0])[1])) >= 10", timeout=120000)
        page.locator("#live-input button:has-text('Stop')").first.click()
        page.wait_for_function("document.querySelector('#live-status').innerText.includes('Done: ')",
                               timeout=30000)
        status = status_text(page, "live-status")
        frames = int(status.split(" frames coded")[0].split()[-1])
        assert frames >= 10 and "ms algorithmic" in status and "compute per frame (measured)" in status
        # what came back plays in the output player (in wavesurfer's shadow root: the locator pierces it)
        heard = "els => els.filter(e => e.src.startsWith('blob:')).length"
        for _ in range(150):
            if page.locator("#live-output audio").evaluate_all(heard):
                break
            page.wait_for_timeout(200)
        assert page.locator("#live-output audio").evaluate_all(heard) > 0
        screenshot(page, ARTIFACTS / "demo_live.png")
        assert page.outside == []
    assert "Traceback" not in (tmp_path / "server.log").read_text()
