"""Measuring codecs and tokenizers: signal quality (quality), ASR word error rate (wer), codebook
usage and bitrate (codebook), classical codec baselines through their CLI tools (baselines), and
the RESULTS.md writer (report). `audiotok score` (audiotok/bin/score.py) ties them together.

Submodules are imported on use so that, e.g., reading codebook stats never loads pocketsphinx.
"""

__all__ = ["quality", "wer", "codebook", "baselines", "report"]
