# cmd.sh: how recipe stages run jobs (keep this file byte-identical across recipes).
# Stages call   ${train_cmd} [--gpu N] [--mem 4G] [--time 4:00:00] [--num-threads N] [--max-jobs-run N] \
#                   JOB=1:N exp/x/log/step.JOB.log python -m audiotok.bin.step ... JOB ...
# local: jobs run on this machine (at most --max-jobs-run at once; scheduler options are ignored).
# slurm: each job is submitted with `sbatch --wait` (`srun` inside an allocation); conf/slurm.conf, when
#        present, maps the options to sbatch flags (Kaldi's format, see utils/launch.sh --help).
cmd_backend=${cmd_backend:-local}

case $cmd_backend in
  local)
    train_cmd="utils/launch.sh"
    decode_cmd="utils/launch.sh"
    cuda_cmd="utils/launch.sh"
    ;;
  slurm)
    _slurm_conf=""
    if [ -f conf/slurm.conf ]; then _slurm_conf="--config conf/slurm.conf"; fi
    train_cmd="utils/launch.sh --backend slurm ${_slurm_conf} --mem 4G"
    decode_cmd="utils/launch.sh --backend slurm ${_slurm_conf} --mem 4G"
    cuda_cmd="utils/launch.sh --backend slurm ${_slurm_conf} --mem 16G --gpu 1"
    unset _slurm_conf
    ;;
  *)
    echo "cmd.sh: unknown cmd_backend '$cmd_backend' (local or slurm)" >&2
    # shellcheck disable=SC2317  # exit only when run rather than sourced
    return 1 2>/dev/null || exit 1
    ;;
esac
export train_cmd decode_cmd cuda_cmd
