"""The audiotok Gradio demo: the UI only; the work is in demo/handlers.py.

Start it with `audiotok demo [--exp DIR ...]` or `make demo`. Tabs: Codec (always), Live (a
causal codec streaming the microphone, e.g. the shipped one), ASR and
TTS (with a unified LM), Music (with a dual-track music tokenizer); a tab whose model is not
loaded says so and how to make one. Nothing is fetched from the network: analytics are off,
no share link, and the theme uses the system fonts instead of web fonts.
"""

import atexit
import functools
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # before gradio is imported: no version check, no telemetry
if not os.environ.get("GRADIO_TEMP_DIR"):
    # Gradio's uploads and copies of our outputs live in a dir of this process, removed at exit
    os.environ["GRADIO_TEMP_DIR"] = tempfile.mkdtemp(prefix="audiotok-demo-")
    atexit.register(shutil.rmtree, os.environ["GRADIO_TEMP_DIR"], True)

import gradio as gr  # noqa: E402

from demo import handlers  # noqa: E402
from demo.models import MAKE_MODELS_HINT  # noqa: E402

LM_HINT = "run egs/mini_synth/lm1/run.sh (it trains and packs a unified LM), then start the demo again"
MUSIC_HINT = "run egs/mini_music/tok1/run.sh (it trains and packs a dual-track music tokenizer)"
SOURCES = ["upload", "microphone"]
# pictures carry their own titles: a floating label and corner buttons would cover them
PLOT = dict(show_label=False, buttons=[], elem_classes=["plot"])

CSS = """
.status { min-height: 1.5em; }
.plot img { object-fit: contain !important; width: 100%; height: auto; }
"""


def _theme():
    system = ["ui-sans-serif", "system-ui", "sans-serif"]
    return gr.themes.Default(font=system, font_mono=["ui-monospace", "monospace"])


def _absent(what, hint):
    return gr.Markdown(f"**No {what} loaded.** To get one: {hint}.", elem_classes=["absent-note"])


def _header(store):
    lines = ["# audiotok demo", "Speech and music tokenizers: hear what survives at each bitrate."]
    if store.entries:
        lines.append("Loaded: " + "; ".join(f"`{e.name}` ({e.kind})" for e in store.entries))
    else:
        lines.append(f"**No trained models found.** To get one: {MAKE_MODELS_HINT}.")
    return gr.Markdown("\n\n".join(lines))


def _codec_tab(store, out_root, max_seconds):
    names = store.codecs
    with gr.Tab("Codec", id="codec"):
        if not names:
            _absent("codec", MAKE_MODELS_HINT)
            return
        first = store.model(names[0])
        info = handlers.codec_info(first)
        with gr.Row():
            with gr.Column():
                audio_in = gr.Audio(sources=SOURCES, type="filepath", label=f"Input (record or upload, up to "
                                    f"{max_seconds:g} s)", elem_id="codec-input")
                model = gr.Dropdown(names, value=names[0], label="Model", elem_id="codec-model")
                n_q = gr.Slider(1, info["max_n_q"], value=info["max_n_q"], step=1, label="Codebooks (bitrate)",
                                elem_id="codec-nq")
                rate = gr.Markdown(handlers.bitrate_markdown(first, info["max_n_q"]), elem_id="codec-rate")
                semantic = gr.Checkbox(False, label="Semantic layer only (decode from codebook 1)",
                                       elem_id="codec-semantic")
                run = gr.Button("Encode and decode", variant="primary", elem_id="codec-run")
            with gr.Column():
                status = gr.Markdown("", elem_id="codec-status", elem_classes=["status"])
                orig = gr.Audio(type="filepath", label="Original (as the model hears it)", interactive=False,
                                elem_id="codec-original")
                recon = gr.Audio(type="filepath", label="Reconstruction", interactive=False, elem_id="codec-recon")
                atok = gr.File(label="Tokens (.atok)", interactive=False, elem_id="codec-atok")
        with gr.Row():
            orig_png = gr.Image(type="filepath", label="Original spectrogram", interactive=False,
                                elem_id="codec-spec-original", **PLOT)
            recon_png = gr.Image(type="filepath", label="Reconstruction spectrogram", interactive=False,
                                 elem_id="codec-spec-recon", **PLOT)
        with gr.Row():
            tokens_png = gr.Image(type="filepath", label="Token grid per stream", interactive=False,
                                  elem_id="codec-tokens", **PLOT)
            stats = gr.Markdown("", elem_id="codec-stats")

        def on_model(name):
            m = store.model(name)
            i = handlers.codec_info(m)
            return gr.Slider(minimum=1, maximum=i["max_n_q"], value=i["max_n_q"]), handlers.bitrate_markdown(m, None)

        model.change(on_model, model, [n_q, rate])
        n_q.change(lambda name, n: handlers.bitrate_markdown(store.model(name), n), [model, n_q], rate)
        run.click(functools.partial(handlers.ui_codec, store, out_root, max_seconds=max_seconds),
                  [audio_in, model, n_q, semantic],
                  [orig, recon, orig_png, recon_png, tokens_png, atok, stats, status])


def _live_tab(store):
    from demo import live

    names = live.streamable(store)
    with gr.Tab("Live", id="live"):
        if not names:
            _absent("streaming codec", "the shipped speech codec streams: start the demo without --no-shipped")
            return
        gr.Markdown("Speak into the microphone: the audio goes through the causal codec's streaming encoder and "
                    "decoder as you speak, and you hear what the tokens carry. Everything runs on this machine.")
        with gr.Row():
            with gr.Column():
                model = gr.Dropdown(names, value=names[0], label="Streaming codec", elem_id="live-model")
                mic = gr.Audio(sources=["microphone"], streaming=True, type="numpy", label="Microphone",
                               elem_id="live-input")
            with gr.Column():
                status = gr.Markdown("", elem_id="live-status", elem_classes=["status"])
                out = gr.Audio(streaming=True, autoplay=True, interactive=False, label="Through the codec",
                               elem_id="live-output")
        session = gr.State(None)
        mic.stream(functools.partial(live.ui_live, store), [model, mic, session], [out, session, status],
                   stream_every=live.BROWSER_CHUNK_S, time_limit=600, concurrency_limit=4)
        mic.stop_recording(live.ui_live_stop, [session], [out, session, status])


def _asr_tab(store, max_seconds):
    with gr.Tab("ASR", id="asr"):
        if not store.lms:
            _absent("LM", LM_HINT)
            return
        with gr.Row():
            with gr.Column():
                lm = gr.Dropdown(store.lms, value=store.lms[0], label="Unified LM")
                audio_in = gr.Audio(sources=SOURCES, type="filepath", label="Speech", elem_id="asr-input")
                run = gr.Button("Transcribe", variant="primary", elem_id="asr-run")
            with gr.Column():
                status = gr.Markdown("", elem_id="asr-status", elem_classes=["status"])
                text = gr.Textbox(label="Transcript", interactive=False, elem_id="asr-text")
        run.click(functools.partial(handlers.ui_asr, store, max_seconds=max_seconds), [lm, audio_in], [text, status])


def _tts_tab(store, out_root):
    with gr.Tab("TTS", id="tts"):
        if not store.lms:
            _absent("LM", LM_HINT)
            return
        with gr.Row():
            with gr.Column():
                lm = gr.Dropdown(store.lms, value=store.lms[0], label="Unified LM")
                text = gr.Textbox(label="Text to say", lines=2, elem_id="tts-text")
                prompt = gr.Audio(sources=SOURCES, type="filepath", label="Voice prompt (optional)",
                                  elem_id="tts-prompt")
                prompt_text = gr.Textbox(label="What the prompt says (optional; else the LM transcribes it)")
                with gr.Row():
                    sample = gr.Checkbox(False, label="Sample the words' tokens (varied; greedy is clearer)",
                                         elem_id="tts-sample")
                    seed = gr.Number(0, precision=0, label="Seed")
                run = gr.Button("Speak", variant="primary", elem_id="tts-run")
            with gr.Column():
                status = gr.Markdown("", elem_id="tts-status", elem_classes=["status"])
                out = gr.Audio(type="filepath", label="Speech", interactive=False, elem_id="tts-output")
        run.click(functools.partial(handlers.ui_tts, store, out_root),
                  [lm, text, prompt, prompt_text, seed, sample], [out, status])


def _music_tab(store, out_root, max_seconds):
    with gr.Tab("Music", id="music"):
        if not store.music:
            _absent("music tokenizer", MUSIC_HINT)
            return
        with gr.Row():
            with gr.Column():
                model = gr.Dropdown(store.music, value=store.music[0], label="Music tokenizer")
                audio_in = gr.Audio(sources=["upload"], type="filepath", label=f"Song (up to {max_seconds:g} s)",
                                    elem_id="music-input")
                run = gr.Button("Tokenize and decode the tracks", variant="primary", elem_id="music-run")
            with gr.Column():
                status = gr.Markdown("", elem_id="music-status", elem_classes=["status"])
                vocals = gr.Audio(type="filepath", label="Vocals only", interactive=False)
                accomp = gr.Audio(type="filepath", label="Accompaniment only", interactive=False)
                mix = gr.Audio(type="filepath", label="Mix", interactive=False)
        grid = gr.Image(type="filepath", label="Token tracks", interactive=False, **PLOT)
        run.click(functools.partial(handlers.ui_music, store, out_root, max_seconds=max_seconds), [model, audio_in],
                  [vocals, accomp, mix, grid, status])


def build_app(store, out_root, max_seconds=handlers.MAX_SECONDS):
    # delete_cache: Gradio's copies of uploads and outputs go after an hour
    with gr.Blocks(title="audiotok demo", analytics_enabled=False, delete_cache=(600, 3600)) as app:
        _header(store)
        _codec_tab(store, out_root, max_seconds)
        _live_tab(store)
        _asr_tab(store, max_seconds)
        _tts_tab(store, out_root)
        _music_tab(store, out_root, max_seconds)
    return app


def serve(store, host="127.0.0.1", port=7860, max_seconds=handlers.MAX_SECONDS, block=True):
    """Build and launch on host:port (local only unless host says otherwise; never a share link)."""
    out_root = Path(tempfile.mkdtemp(prefix="outputs-", dir=os.environ["GRADIO_TEMP_DIR"]))
    atexit.register(shutil.rmtree, out_root, True)
    app = build_app(store, out_root, max_seconds)
    app.queue(default_concurrency_limit=1)
    app.launch(server_name=host, server_port=port, share=False, inbrowser=False, ssr_mode=False, quiet=True,
               allowed_paths=[str(out_root)], max_file_size="100mb", theme=_theme(), css=CSS,
               footer_links=[], run_history=False, prevent_thread_lock=True)
    print(f"audiotok demo: {len(store.entries)} model(s); serving on http://{host}:{port} (Ctrl-C stops it)",
          file=sys.stderr, flush=True)
    if block:
        # SIGTERM ends the server like Ctrl-C does, so the atexit clean-up of out_root runs
        signal.signal(signal.SIGTERM, _interrupt)
        app.block_thread()
    return app


def _interrupt(signum, frame):
    raise KeyboardInterrupt

