# db.sh: where the real corpora lie on this site. Edit the paths here once; every recipe links
# this file as its db.sh, and an environment variable of the same name overrides it
# (LIBRISPEECH=/data/LibriSpeech ./run.sh). Nothing is downloaded: machines may be offline,
# so unpack each corpus yourself (openslr.org: LibriSpeech SLR12, LibriTTS SLR60; MUSDB18 from Zenodo).
# An empty value makes local/data.sh stop with an error that names this file.

# The folder that holds train-clean-100/, dev-clean/, ... (the "LibriSpeech" folder of the tarballs).
LIBRISPEECH=${LIBRISPEECH:-}
# The folder that holds train-clean-100/, dev-clean/, ... (the "LibriTTS" folder; LibriTTS-R works too).
LIBRITTS=${LIBRITTS:-}
# The folder that holds train/ and test/ of MUSDB18 (stem .mp4 files) or MUSDB18-HQ (wav folders).
MUSDB18=${MUSDB18:-}
