# Sourced by the run_cpu_*.sh scripts that continue from a shipped music-v1: sets exp_root (long runs live
# outside the work tree) and common (tok.sh's CPU-run options, the corpus of run_cpu.sh).
exp_root="${AUDIOTOK_EXP_ROOT:-${HOME}/.cache/audiotok/exp}/mini_music_tok1"
common=(--ssl-config conf/bestrq_music_cpu.yaml --enc-config conf/encoder_music_cpu.yaml --exp-root "${exp_root}"
        --train-set train --valid-set dev --test-sets test --train-threads 1
        --local-data-opts "--songs 320 --seed 1 --min-seconds 15 --max-seconds 30")
