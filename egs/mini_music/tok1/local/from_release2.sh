# Sourced by the run_cpu_release*.sh scripts, which continue from music-v1 release 2: sets exp_root and
# common (local/cpu_common.sh) and release2 (release 2's model dir, put there from the install when missing).
. local/cpu_common.sh
release2=${exp_root}/duotok_v2_cpu_q/model   # release 2, the Duo-Tok quantizer stage's output
local/shipped_release.sh 2 "${release2}"
