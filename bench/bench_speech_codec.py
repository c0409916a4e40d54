"""The shipped speech codec's architecture against EnCodec and Mimi in one run (batch 1, 10 s and 60 s).

    python -m bench.bench_speech_codec [--threads 2] [--quick]

The speed target of the speech codec: encode and decode each at least 2x EnCodec's real-time factor
measured in the same run. The same measurement as bench_speed (random weights: speed does not depend
on them), on the three codecs that matter for it, so it reruns in a minute.
"""

import sys

from bench import bench_speed

NAME = "speech_codec"
TITLE = "Shipped speech codec against its peers (x real time, random weights)"


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if not any(a.startswith("--cases") for a in argv) and "--quick" not in argv:
        argv = [*argv, "--cases", "10x1,60x1"]
    return bench_speed.main([*argv, "--no-big-ssl"], name=NAME, title=TITLE, module="bench.bench_speech_codec",
                            codecs="dualcodec_12hz_cpu,encodec,mimi")


render = bench_speed.render

if __name__ == "__main__":
    sys.exit(main())
