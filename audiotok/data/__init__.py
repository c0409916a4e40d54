"""Data: Kaldi-style data dirs (kaldi_dir), datasets and samplers, and the embedded mini corpora (corpora/)."""
