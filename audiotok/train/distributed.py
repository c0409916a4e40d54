"""Data-parallel training as torchrun sets it up: RANK / LOCAL_RANK / WORLD_SIZE in the environment.

`--ngpu 0` means CPU (gloo when there are several processes), `--ngpu N` means one CUDA device per
process (nccl). Gradients are averaged by `GradSync` with explicit bucketed all_reduce after each
backward instead of wrapping the model in DistributedDataParallel: our models are driven through
custom methods (forward_train, generator_loss, discriminator_loss) and GAN steps back-propagate
into generator and discriminator separately, which DDP's one-forward-one-backward reducer does
not express (it would need find_unused_parameters and still reduce discriminator gradients during
the generator step). Explicit reduction costs the overlap of communication with backward, and buys
exact, simple semantics: after `GradSync.all_reduce(params)` every rank holds the mean gradient,
and a parameter that no rank touched keeps grad=None (so the optimizer skips it, as in 1 process).
"""

import datetime
import logging
import os
import sys
from dataclasses import dataclass

import torch
import torch.distributed as dist

from audiotok.errors import UserError

_BUCKET_BYTES = 32 * 1024 * 1024


@dataclass
class DistInfo:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")
    backend: str = ""

    @property
    def is_main(self):
        return self.rank == 0

    @property
    def distributed(self):
        return self.world_size > 1


def under_torchrun():
    return "LOCAL_RANK" in os.environ and "WORLD_SIZE" in os.environ


def init_distributed(ngpu=0, timeout_minutes=30):
    """Set up this process. Outside torchrun: one process on cuda:0 (ngpu>=1) or the CPU (ngpu=0)."""
    rank = int(os.environ.get("RANK", 0))
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    world = int(os.environ.get("WORLD_SIZE", 1))
    if ngpu > 0:
        if not torch.cuda.is_available():
            raise UserError(f"--ngpu {ngpu} but no CUDA device is visible (use --ngpu 0 to train on the CPU)")
        if local_rank >= torch.cuda.device_count():
            raise UserError(f"LOCAL_RANK {local_rank} but only {torch.cuda.device_count()} CUDA devices are visible")
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
        backend = "nccl"
    else:
        device, backend = torch.device("cpu"), "gloo"
    info = DistInfo(rank, local_rank, world, device, backend if world > 1 else "")
    if world > 1 and not dist.is_initialized():
        kwargs = {"device_id": device} if device.type == "cuda" else {}
        dist.init_process_group(backend, timeout=datetime.timedelta(minutes=timeout_minutes), **kwargs)
    return info


def cleanup():
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def leave_worker(code):
    """End a torchrun worker that has finished and destroyed its process group, skipping interpreter
    teardown. Why: the collective backend's C++ threads can abort the process while Python finalizes
    (SIGABRT, "terminate called without an active exception", seen once in CI with gloo after every file
    was written), and torchrun then reports the whole run as failed."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(code)


def barrier(info):
    if info.distributed:
        dist.barrier()


def broadcast_module(module, src=0):
    """Make every rank hold rank `src`'s parameters and buffers (start of training, after hooks)."""
    if not (dist.is_available() and dist.is_initialized()):
        return
    with torch.no_grad():
        for t in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(t.data, src)


def broadcast_buffers(module, src=0):
    if not (dist.is_available() and dist.is_initialized()):
        return
    with torch.no_grad():
        for b in module.buffers():
            dist.broadcast(b.data, src)


def any_rank(flag, info):
    """True on every rank when `flag` is true on at least one (signals, non-finite losses)."""
    if not info.distributed:
        return bool(flag)
    t = torch.tensor([1.0 if flag else 0.0], device=info.device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def gather_objects(obj, info):
    """A list with every rank's `obj` (on every rank)."""
    if not info.distributed:
        return [obj]
    out = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


class GradSync:
    """Averages gradients over ranks after backward, in flat buckets (one all_reduce per ~32 MB)."""

    def __init__(self, info, bucket_bytes=_BUCKET_BYTES):
        self.info = info
        self.bucket_bytes = bucket_bytes

    def all_reduce(self, params):
        if not self.info.distributed:
            return
        params = [p for p in params if p.requires_grad]
        if not params:
            return
        # which parameters got a gradient on some rank: those get zeros where missing, so the
        # collective shapes match; the others stay None everywhere
        has = torch.tensor([p.grad is not None for p in params], dtype=torch.float32, device=self.info.device)
        dist.all_reduce(has, op=dist.ReduceOp.MAX)
        live = []
        for p, h in zip(params, has.tolist()):
            if h > 0:
                if p.grad is None:
                    p.grad = torch.zeros_like(p)
                live.append(p)
        for bucket in self._buckets(live):
            grads = [p.grad for p in bucket]
            flat = torch.cat([g.reshape(-1) for g in grads])
            dist.all_reduce(flat)
            flat.div_(self.info.world_size)
            offset = 0
            for g in grads:
                n = g.numel()
                g.copy_(flat[offset:offset + n].view_as(g))
                offset += n

    def _buckets(self, params):
        bucket, size, key = [], 0, None
        for p in params:
            k = (p.grad.dtype, p.grad.device)
            nbytes = p.grad.numel() * p.grad.element_size()
            if bucket and (k != key or size + nbytes > self.bucket_bytes):
                yield bucket
                bucket, size = [], 0
            bucket.append(p)
            size += nbytes
            key = k
        if bucket:
            yield bucket
