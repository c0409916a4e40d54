"""Demo handlers on tiny random-weight models: model discovery, codec round trip (audio, .atok,
pictures, numbers), ASR/TTS through a tiny unified LM, and one-line errors for bad inputs."""

import math
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from audiotok.audio import read_audio  # noqa: E402
from audiotok.errors import UserError  # noqa: E402
from audiotok.models.dualcodec import DualCodec  # noqa: E402
from audiotok.models.loading import save_model_dir  # noqa: E402
from audiotok.tokfile import read_tokens  # noqa: E402

pytest.importorskip("matplotlib")
from demo import handlers  # noqa: E402
from demo.models import ModelStore, default_name  # noqa: E402

SR = 24000
SSL = {"model": "bestrq", "model_conf": {"encoder": {"dim": 32, "n_layers": 2, "n_heads": 2, "dropout": 0.0},
                                         "targets": {"codebook_size": 64}}}


def tiny_codec(seed=0):
    """The tiny DualCodec of tests/test_dualcodec.py: 12.5 Hz, semantic 1x64 + acoustic 3x32."""
    torch.manual_seed(seed)
    return DualCodec(ssl=SSL, ssl_features={"layer": 1}, latent_dim=32,
                     wave={"encoder_dim": 4, "encoder_strides": [4, 5, 6, 8, 2], "decoder_dim": 64,
                           "residual_dilations": [1]},
                     semantic={"dim": 32, "intermediate_dim": 64, "layers": 1, "codebook_size": 64},
                     acoustic={"n_codebooks": 3, "codebook_size": 32},
                     mel={"n_mels": [20, 40], "window_lengths": [256, 512]},
                     semantic_mel={"n_mels": [40], "window_lengths": [512]},
                     discriminator={"channels": 2, "periods": [2, 3], "fft_sizes": [512]}).eval()


def harmonic(seconds, sr, f0=150.0, amp=0.3):
    t = np.arange(int(seconds * sr)) / sr
    x = sum(np.sin(2 * math.pi * k * f0 * t) / k for k in (1, 2, 3))
    return (amp * x * (0.6 + 0.4 * np.sin(2 * math.pi * 3 * t)) / 1.9).astype(np.float32)


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def codec_dir(tmp_path_factory):
    return save_model_dir(tiny_codec(), tmp_path_factory.mktemp("codec") / "packed")


@pytest.fixture(scope="module")
def store(codec_dir):
    return ModelStore.from_dirs([codec_dir])


@pytest.fixture
def clip(tmp_path):
    """0.8 s of a harmonic tone at 16 kHz (the demo resamples to the codec's 24 kHz)."""
    p = tmp_path / "my clip.wav"
    sf.write(p, harmonic(0.8, 16000), 16000)
    return p


# ---------------------------------------------------------------------------------------------
# finding models


def test_store_finds_recipe_outputs_once_and_skips_other_kinds(tmp_path):
    codec = tiny_codec()
    recipe = tmp_path / "egs" / "toy" / "codec1" / "exp"
    save_model_dir(codec, recipe / "packed" / "dc_debug")
    save_model_dir(codec, recipe / "codec_dc_debug" / "model")  # same weights: shown once, packed first
    save_model_dir(codec.ssl, recipe / "ssl_bestrq" / "model")  # the SSL encoder has no tab
    store = ModelStore.from_dirs(None, root=tmp_path)
    assert store.codecs == ["toy/codec1:dc_debug"] and store.lms == [] and store.music == []
    assert [k for _, k in store.skipped] == ["bestrq"]
    m = store.model("toy/codec1:dc_debug")
    assert isinstance(m, DualCodec) and store.model("toy/codec1:dc_debug") is m  # loaded once
    # a recipe dir given with --exp is searched the same way; an exp dir resolves to its model/
    assert ModelStore.from_dirs([tmp_path / "egs" / "toy" / "codec1"]).codecs == ["toy/codec1:dc_debug"]
    assert ModelStore.from_dirs([recipe / "codec_dc_debug"]).codecs == ["toy/codec1:codec_dc_debug"]
    assert default_name(recipe / "codec_dc_debug" / "model") == "toy/codec1:codec_dc_debug"
    assert ModelStore.from_dirs(None, root=tmp_path / "nothing").entries == []


def test_store_errors_name_the_dir(tmp_path):
    with pytest.raises(UserError, match="no such directory"):
        ModelStore.from_dirs([tmp_path / "missing"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="empty: no model dir found"):
        ModelStore.from_dirs([tmp_path / "empty"])
    save_model_dir(tiny_codec().ssl, tmp_path / "ssl")
    with pytest.raises(UserError, match="a 'bestrq' model; the demo shows"):
        ModelStore.from_dirs([tmp_path / "ssl"])
    with pytest.raises(UserError, match="no model named"):
        ModelStore.from_dirs(None, root=tmp_path).get("nope")


# ---------------------------------------------------------------------------------------------
# codec tab


def test_codec_info_and_bitrate_label(store):
    m = store.model(store.codecs[0])
    i = handlers.codec_info(m, 2)
    assert i["max_n_q"] == 4 and i["n_q"] == 2
    assert i["kbps"] == pytest.approx(12.5 * (6 + 5) / 1000) and i["tokens_per_s"] == 25.0
    assert handlers.codec_info(m, 99)["n_q"] == 4 and handlers.codec_info(m, 0)["n_q"] == 1  # clamped
    assert handlers.bitrate_markdown(m, 3).startswith("**3 of 4 codebooks: 0.200 kbps**")


def test_codec_roundtrip_writes_what_the_tab_shows(store, clip, tmp_path):
    m = store.model(store.codecs[0])
    r = handlers.codec_roundtrip(m, str(clip), n_q=3, out_dir=tmp_path / "out")
    wav_in, _ = read_audio(clip, target_sr=SR)
    orig, sr_o = read_audio(r.original_wav)
    recon, sr_r = read_audio(r.recon_wav)
    assert sr_o == sr_r == SR and orig.shape == recon.shape == wav_in.shape  # trimmed to the input length
    assert torch.allclose(orig, wav_in, atol=1 / 32768 + 1e-6)  # the original as the model hears it
    # the reconstruction is exactly decode(encode(x)) of the model, up to 16-bit rounding
    with torch.no_grad():
        direct = m.decode(m.encode(wav_in[None], n_q=3))[0, :, : wav_in.shape[-1]].clamp(-1, 1)
    assert torch.allclose(recon, direct, atol=1 / 32768 + 1e-5)
    tokens, header = read_tokens(r.atok)
    assert Path(r.atok).name == "my_clip_dualcodec_q3.atok"
    assert {k: tuple(v.shape) for k, v in tokens.items()} == {"semantic": (1, 10), "acoustic": (2, 10)}
    assert header["n_q"] == 3 and header["original_length"] == wav_in.shape[-1] and header["model_id"] == m.model_id
    s = r.stats
    assert s["bitrate_kbps"] == pytest.approx(m.bitrate(3) / 1000) and s["tokens_per_s"] == 37.5
    assert s["frame_rate_hz"] == 12.5 and s["duration_s"] == pytest.approx(0.8)
    assert s["atok_bytes"] == Path(r.atok).stat().st_size and s["encode_s"] > 0 and s["decode_s"] > 0
    for png in (r.original_png, r.recon_png, r.tokens_png):
        with open(png, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    md = handlers.codec_stats_markdown(s)
    assert "| bitrate | 0.200 kbps |" in md and "| tokens/s | 37.5 |" in md


def test_semantic_only_decodes_layer_one(store, clip, tmp_path):
    m = store.model(store.codecs[0])
    r = handlers.codec_roundtrip(m, str(clip), n_q=4, semantic_only=True, out_dir=tmp_path)
    tokens, header = read_tokens(r.atok)
    assert list(tokens) == ["semantic"] and header["n_q"] == 1
    assert r.stats["codebooks"] == "1 of 4 codebooks, semantic layer only"
    wav_in, _ = read_audio(clip, target_sr=SR)
    with torch.no_grad():
        direct = m.decode({"semantic": m.encode(wav_in[None], n_q=4)["semantic"]})[0, :, : wav_in.shape[-1]]
    assert torch.allclose(read_audio(r.recon_wav)[0], direct.clamp(-1, 1), atol=1 / 32768 + 1e-5)


def test_spectrogram_level_is_relative_to_full_scale():
    t = torch.arange(SR) / SR
    f = 43 * SR / 1024  # on an FFT bin, so no scalloping loss
    db, sec = handlers.plots.spectrogram_db(0.5 * torch.sin(2 * math.pi * f * t), SR)
    assert sec == 256 / SR and db.max() == pytest.approx(20 * math.log10(0.5), abs=0.05)  # a -6 dBFS sine
    assert np.unravel_index(db.argmax(), db.shape)[0] == 43


@pytest.mark.parametrize("kind,expect", [
    ("corrupt", "bad.wav: corrupt WAV header"),
    ("text", "bad.wav: is a text file, not audio"),
    ("silent", "bad.wav: the audio is silent (digital silence)"),
    ("quiet", "bad.wav: the audio is silent (peak -66 dBFS)"),
    ("long", "bad.wav: 3.0 s is longer than the demo's limit of 2 s"),
    ("empty", "bad.wav: file is empty"),
    ("none", "no audio: record or upload a clip first"),
])
def test_bad_inputs_become_a_status_line_and_the_store_keeps_working(store, clip, tmp_path, kind, expect):
    bad = tmp_path / "sub" / "bad.wav"
    bad.parent.mkdir()
    if kind == "corrupt":
        sf.write(bad, harmonic(0.5, 16000), 16000)
        bad.write_bytes(bad.read_bytes()[:12] + b"junk" * 20)  # RIFF/WAVE, then no fmt or data chunk
    elif kind == "text":
        bad.write_text("this is a transcript, not audio\n")
    elif kind in ("silent", "quiet"):
        sf.write(bad, np.full(8000, 0.0 if kind == "silent" else 0.0005, np.float32), SR, subtype="FLOAT")
    elif kind == "long":
        sf.write(bad, harmonic(3.0, 8000), 8000)
    elif kind == "empty":
        bad.write_bytes(b"")
    out = handlers.ui_codec(store, tmp_path / "out", None if kind == "none" else str(bad), store.codecs[0], 4, False,
                            max_seconds=2.0)
    assert out[:7] == (None,) * 7
    assert out[7].startswith("**Error:** " + expect) and "\n" not in out[7]
    assert str(tmp_path) not in out[7]  # the user sees the file name, not the server's temp path
    if kind == "corrupt":  # and the next request is served as if nothing happened
        ok = handlers.ui_codec(store, tmp_path / "out", str(clip), store.codecs[0], 1, False)
        assert ok[7].startswith("Done: 0.80 s at 0.075 kbps (1 of 4 codebooks)") and Path(ok[1]).is_file()


def test_ui_without_models_says_how_to_get_them(tmp_path, clip):
    empty = ModelStore([])
    assert handlers.ui_codec(empty, tmp_path, str(clip), None, 1, False)[-1] == \
        "**Error:** no codec loaded: " + handlers.MAKE_MODELS_HINT
    assert handlers.ui_asr(empty, None, str(clip)) == (None, "**Error:** no LM loaded")
    assert handlers.ui_music(empty, tmp_path, None, str(clip))[-1] == "**Error:** no music tokenizer loaded"


def test_request_dirs_are_fresh_and_old_ones_pruned(tmp_path):
    import os

    a = handlers.new_out_dir(tmp_path)
    os.utime(a, (1, 1))  # pretend it is ancient
    b = handlers.new_out_dir(tmp_path)
    assert b != a and b.is_dir() and not a.exists()


# ---------------------------------------------------------------------------------------------
# ASR and TTS tabs: a tiny unified LM over the tiny codec's tokens


SENTENCES = ["the quick brown fox jumps over the lazy dog", "a cat sat on the mat and looked at the dog",
             "hello world this is a test of the speech model", "one two three four five six seven"]


@pytest.fixture(scope="module")
def lm_store(tmp_path_factory, codec_dir):
    """`ulm`: an LM packed with its codec/ (as the lm1 recipe packs it); `bare`: another LM
    without one (paired with a loaded codec that fits); `other`: an LM over 256 semantic codes."""
    from audiotok.models.ulm import UnifiedLM
    from audiotok.models.ulm_vocab import JointVocab, train_text_model

    d = tmp_path_factory.mktemp("lm")
    sp = train_text_model(SENTENCES * 4, d / "bpe.model", vocab_size=40)
    vocab = JointVocab.from_text_model(sp, semantic_size=64, acoustic_size=32, n_acoustic=2)
    for name, seed in (("ulm", 0), ("bare", 1)):
        torch.manual_seed(seed)
        UnifiedLM(vocab, lm={"dim": 32, "n_layers": 2, "n_heads": 4, "n_kv_heads": 2}, grouping={"size": 2},
                  frame_rate=12.5, srh={"dim": 16, "n_layers": 1, "n_heads": 2}, prompt_frames=4).save_pretrained(d / name)
    save_model_dir(tiny_codec(), d / "ulm" / "codec")
    other = UnifiedLM(JointVocab.from_text_model(sp, semantic_size=256), lm={"dim": 32, "n_layers": 1, "n_heads": 4},
                      grouping={"size": 2}, frame_rate=12.5, srh={"dim": 16, "n_layers": 1, "n_heads": 2})
    other.save_pretrained(d / "other")
    return ModelStore.from_dirs([d / "ulm", d / "bare", d / "other"]), ModelStore.from_dirs([d / "bare"])


def test_lm_is_paired_with_its_codec(lm_store):
    store, alone = lm_store
    # the packed LM's codec/ is on the codec tab too, and shared with the LM
    assert store.lms == ["ulm", "bare", "other"] and store.codecs == ["ulm codec"]
    assert store.codec_for_lm("ulm") == store.get("ulm").path / "codec"
    assert store.speech_lm("ulm").codec is store.model("ulm codec") and store.speech_lm("ulm") is store.speech_lm("ulm")
    # without a codec/ an LM takes a loaded codec that fits its vocabulary and frame rate
    assert store.codec_for_lm("bare") == store.get("ulm codec").path
    assert store.speech_lm("bare").codec is store.model("ulm codec")
    with pytest.raises(UserError, match="'bare' has no usable codec/ beside it and none of the loaded codecs fits"):
        alone.speech_lm("bare")
    with pytest.raises(UserError, match="semantic 256 codes at 12.5 Hz"):
        store.codec_for_lm("other")


def test_asr_transcribes_the_codec_semantic_tokens(lm_store, clip):
    from audiotok.asr_input import asr_pieces

    store, _ = lm_store
    slm = store.speech_lm("ulm")
    text, s = handlers.asr_transcribe(slm, str(clip))
    wav, _ = read_audio(clip, target_sr=SR)
    (piece,) = asr_pieces(wav[0].numpy(), SR)  # the tone with the corpus's 0.15 s of silence at each end
    with torch.no_grad():
        sem = slm.codec.encode(torch.from_numpy(piece)[None, None], n_q=1)["semantic"][0, 0]
    assert s["semantic_tokens"] == 14 and text == slm.asr_tokens([sem])[0]  # same tokens
    out = handlers.ui_asr(store, "ulm", str(clip))
    assert out[0] == text and out[1].startswith("Done: 0.80 s -> 14 semantic tokens")
    assert handlers.ui_asr(lm_store[1], "bare", str(clip))[1].startswith("**Error:** LM 'bare' has no usable codec/")


def test_tts_speaks_text_with_and_without_a_voice_prompt(lm_store, clip, tmp_path, monkeypatch):
    store, _ = lm_store
    slm = store.speech_lm("ulm")
    hop = slm.codec.hop_length
    path, s = handlers.tts_synthesize(slm, "the cat sat", tmp_path / "a", seed=3, max_seconds=2.0)
    wav, sr = read_audio(path)
    assert sr == SR and 1 <= s["semantic_tokens"] <= 25 and wav.shape[-1] == s["semantic_tokens"] * hop
    again, _ = handlers.tts_synthesize(slm, "the cat sat", tmp_path / "b", seed=3, max_seconds=2.0)
    assert torch.equal(read_audio(again)[0], wav)  # a seed reproduces the speech
    # greedy semantic tokens unless the user asks to sample them (the toy LM is too sure of its tokens for
    # the two to differ in sound, so the call is watched)
    real_tts, asked = slm.tts, []
    monkeypatch.setattr(slm, "tts", lambda *a, **k: asked.append(k["greedy"]) or real_tts(*a, **k))
    for sample in (False, True):
        handlers.tts_synthesize(slm, "the cat sat", tmp_path / f"s{sample}", seed=3, max_seconds=2.0, sample=sample)
        assert handlers.ui_tts(store, tmp_path / "ui", "ulm", "hello", None, "", 3, sample)[1].startswith("Done: ")
    assert asked == [True, True, False, False]
    monkeypatch.undo()
    # with a voice prompt the prompt is transcribed by the LM when no transcript is typed
    path, s = handlers.tts_synthesize(slm, "the dog", tmp_path / "c", prompt_path=str(clip), seed=1, max_seconds=1.0)
    wav_p, _ = read_audio(clip, target_sr=SR)
    with torch.no_grad():
        sem_p = slm.codec.encode(wav_p[None], n_q=1)["semantic"][0, 0]
    assert s["prompt_text"] == slm.asr_tokens([sem_p])[0]
    assert read_audio(path)[0].shape[-1] == s["semantic_tokens"] * hop <= 12 * hop  # the prompt is cut off
    _, s = handlers.tts_synthesize(slm, "the dog", tmp_path / "d", prompt_path=str(clip), prompt_text="hello world",
                                   seed=1, max_seconds=1.0)
    assert s["prompt_text"] == "hello world"
    with pytest.raises(UserError, match="no text"):
        handlers.tts_synthesize(slm, "  ", tmp_path)
    out = handlers.ui_tts(store, tmp_path / "ui", "ulm", "hello", None, "", 3)
    assert Path(out[0]).is_file() and out[1].startswith("Done: ")
    # the status shows the words the LM was given, piece by piece
    out = handlers.ui_tts(store, tmp_path / "ui", "ulm", "Dr. Lee left at 7:30. She took the bus.", None, "", 3)
    assert '; said as "DOCTOR LEE LEFT AT SEVEN THIRTY / SHE TOOK THE BUS"' in out[1], out[1]
    assert handlers.ui_tts(store, tmp_path / "ui", "ulm", "hi", str(tmp_path / "nope.wav"), "", 0)[1] == \
        "**Error:** nope.wav: no such file"


# ---------------------------------------------------------------------------------------------
# music tab: a tiny dual-track tokenizer (random weights)


@pytest.fixture(scope="module")
def music_store(tmp_path_factory):
    from audiotok.models.duotok import DuoTok

    torch.manual_seed(0)
    ssl = {"model": "bestrq", "model_conf": {"sample_rate": SR,
                                             "features": {"n_mels": 32, "n_fft": 512, "hop_length": 240, "stack": 4},
                                             "encoder": {"dim": 32, "n_layers": 2, "n_heads": 2, "dropout": 0.0},
                                             "targets": {"codebook_size": 64, "codebook_dim": 8}}}
    m = DuoTok(encoder={"model": "duotok_encoder", "model_conf": {"ssl": ssl}}, layer=1,
               codebooks={"size": 64, "dim": 8}, branch={"dim": 32, "intermediate_dim": 64},
               decoder={"n_mels": 32, "n_fft": 512, "upsample": 4, "dim": 32, "layers": 1, "intermediate_dim": 64,
                        "steps": 2},
               vocoder={"channels": 16, "rates": [8, 6, 5], "dilations": [1]})
    d = save_model_dir(m.eval(), tmp_path_factory.mktemp("music") / "duotok_tiny")
    return ModelStore.from_dirs([d])


def test_music_tab_decodes_vocals_accompaniment_and_mix(music_store, clip, tmp_path):
    assert music_store.music == ["duotok_tiny"] and music_store.codecs == ["duotok_tiny"]  # a tokenizer as well
    m = music_store.model("duotok_tiny")
    paths, png, s = handlers.music_tracks(m, str(clip), tmp_path)
    wav_in, _ = read_audio(clip, target_sr=SR)
    with torch.no_grad():
        tokens = m.encode(wav_in[None])
    assert {k: tuple(v.shape) for k, v in tokens.items()} == {"vocals": (1, 1, 20), "accompaniment": (1, 1, 20)}
    for track in handlers.TRACKS:
        y, sr = read_audio(paths[track])
        assert sr == SR and y.shape == wav_in.shape and Path(paths[track]).name == f"my_clip_{track}.wav"
        with torch.no_grad():
            direct = m.decode(tokens, track=track)[0, :, : wav_in.shape[-1]]
        assert torch.allclose(y, direct.clamp(-1, 1), atol=1 / 32768 + 1e-6)
    assert s["streams"] == "vocals 1x64, accompaniment 1x64" and s["bitrate_kbps"] == pytest.approx(0.3)
    with open(png, "rb") as f:
        assert f.read(4) == b"\x89PNG"
    out = handlers.ui_music(music_store, tmp_path / "ui", "duotok_tiny", str(clip))
    assert all(Path(p).is_file() for p in out[:4]) and out[4].startswith("Done: 0.80 s, vocals 1x64, accompaniment")
    bad = handlers.ui_music(music_store, tmp_path / "ui", "duotok_tiny", str(tmp_path / "missing.flac"))
    assert bad == (None,) * 4 + ("**Error:** missing.flac: no such file",)


# ---------------------------------------------------------------------------------------------
# `audiotok demo`: bad arguments are one line and exit 1, before any server starts


@pytest.mark.parametrize("args,expect", [
    (["--exp", "{tmp}/missing"], "{tmp}/missing: no such directory"),
    (["--exp", "{tmp}"], "{tmp}: no model dir found"),
    (["--port", "70000"], "--port must be 1..65535, got 70000"),
    (["--max-seconds", "0"], "--max-seconds must be positive, got 0.0"),
])
def test_cli_errors(tmp_path, capsys, args, expect):
    from audiotok.cli import main

    assert main(["demo", *[a.format(tmp=tmp_path) for a in args]]) == 1
    err = capsys.readouterr().err
    assert err.startswith("audiotok demo: error: " + expect.format(tmp=tmp_path)) and err.count("\n") == 1


def test_the_shipped_codec_comes_first_and_codes_a_clip(tmp_path):
    import subprocess

    from demo import handlers
    from demo.models import ModelStore

    store = ModelStore.from_dirs([], root=tmp_path, shipped=True)
    assert store.codecs[0] == "speech-12hz-v1 (shipped)"
    assert store.music == ["music-v1 (shipped)"]  # the music tab opens with the shipped tokenizer
    clip = tmp_path / "slt.wav"
    subprocess.run(["flite", "-voice", "slt", "-o", str(clip), "-t", "Good morning."], check=True)
    out = handlers.ui_codec(store, tmp_path / "out", str(clip), store.codecs[0], 6, False)
    assert "| model | speech-12hz-v1 |" in str(out) and "0.775 kbps" in str(out)
    # the ASR and TTS tabs open with the shipped LM, which finds its codec (speech-25hz-v2) in the install
    assert store.lms == ["speech-lm-v1 (shipped)"]
    text, status = handlers.ui_asr(store, store.lms[0], str(clip))
    assert status.startswith("Done: ") and "semantic tokens" in status and text.strip()
    wav, status = handlers.ui_tts(store, tmp_path / "tts", store.lms[0], "good morning", str(clip), "good morning", 0)
    assert status.startswith("Done: ") and Path(wav).is_file()


def test_live_tab_streams_the_microphone_through_the_shipped_codec(tmp_path, store):
    import subprocess

    from demo import live
    from demo.models import ModelStore

    assert live.streamable(store) == []  # the tiny DAC-style codec is not causal: no live tab for it
    shipped = ModelStore.from_dirs([], root=tmp_path, shipped=True)
    name = shipped.codecs[0]  # the default speech codec first; the LM's 25 Hz codec is causal too
    assert name == "speech-12hz-v1 (shipped)"
    assert live.streamable(shipped) == [name, "speech-25hz-v1 (shipped)", "speech-25hz-v2 (shipped)"]
    path = tmp_path / "kal16.wav"
    subprocess.run(["flite", "-voice", "kal16", "-o", str(path), "-t", "Testing the live tab."], check=True)
    wav, sr = sf.read(path, dtype="int16")
    assert sr == 16000
    # 100 ms microphone chunks at the model's rate: the stream is the whole-file pass, cut as it came
    session, out = None, []
    for i in range(0, len(wav), 1600):
        audio, session, status = live.ui_live(shipped, name, (sr, wav[i:i + 1600]), session)
        assert status.startswith("Live: ") and "ms algorithmic" in status
        out.append(audio[1] if audio else np.zeros(0, np.int16))
    audio, session, status = live.ui_live_stop(session)
    out.append(audio[1])
    assert status.startswith("Done: ") and session is None
    got = np.concatenate(out).astype(np.float32) / 32767
    model = shipped.model(name)
    x = torch.from_numpy(wav.astype(np.float32) / 32768)[None, None]
    with torch.inference_mode():
        ref = model.decode(model.encode(x)).reshape(-1).numpy()
    assert got.shape == ref.shape  # whole frames of the padded input
    assert np.abs(got - np.clip(ref, -1, 1)).max() < 2e-4  # 16-bit rounding
    # a 48 kHz browser: resampled as a stream, every frame still coded once
    session = None
    wav48 = np.repeat(wav, 3)
    for i in range(0, len(wav48), 4800):
        _, session, _ = live.ui_live(shipped, name, (48000, wav48[i:i + 4800]), session)
    _, _, status = live.ui_live_stop(session)
    frames = int(status.split(" frames coded")[0].split()[-1])
    assert frames == -(-len(wav) // 1280)
