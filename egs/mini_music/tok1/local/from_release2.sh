# Sourced by the run_cpu_release*.sh scripts, which continue from music-v1 release 2: sets exp_root, release2
# (release 2's model dir, put there from the install when missing) and common (tok.sh's CPU-run options).
exp_root="${AUDIOTOK_EXP_ROOT:-${HOME}/.cache/audiotok/exp}/mini_music_tok1"
release2=${exp_root}/duotok_v2_cpu_q/model   # release 2, the Duo-Tok quantizer stage's output
local/shipped_release.sh 2 "${release2}"
common=(--ssl-config conf/bestrq_music_cpu.yaml --enc-config conf/encoder_music_cpu.yaml --exp-root "${exp_root}"
        --train-set train --valid-set dev --test-sets test --train-threads 1
        --local-data-opts "--songs 320 --seed 1 --min-seconds 15 --max-seconds 30")
