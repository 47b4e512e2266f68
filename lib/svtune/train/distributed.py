"""Training on several processes, launched the standard way: who is who, and where they meet.

    torchrun --nproc_per_node 2 -m svtune --size small       # or: accelerate launch -m svtune ...

torchrun starts `python -m svtune` once per process and sets RANK / WORLD_SIZE / LOCAL_RANK.
Rank 0 runs the notebook: it alone mines, evaluates and writes the run folder, and tells the
others the folder's name. Every rank then trains (sentence-transformers' trainer under DDP) on
its share of each global batch: the batch size stays the global one, split across processes,
and the in-batch negatives are gathered across them (losses.py, sampling.py). The other ranks
exit after training; rank 0 centres, saves, evaluates and finishes the folder.
"""

from __future__ import annotations

import datetime
import os

# Rank 0 evaluates while the others wait for it: allow a long wait at scale.
TIMEOUT = datetime.timedelta(hours=6)


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def is_main() -> bool:
    return rank() == 0


def init() -> None:
    """Join the process group (gloo on CPUs, nccl on GPUs) when launched on several processes."""
    import torch
    import torch.distributed as dist
    if world_size() > 1 and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend=backend, timeout=TIMEOUT)


def share(obj=None):
    """Rank 0's `obj`, on every rank (each other rank passes None)."""
    if world_size() == 1:
        return obj
    import torch.distributed as dist
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier() -> None:
    if world_size() > 1:
        import torch.distributed as dist
        dist.barrier()


def leave() -> None:
    """After training, every rank meets here and leaves the process group. A worker that simply
    exited while rank 0 still held the group died in gloo's threads ("terminate called without an
    active exception", SIGABRT), and torchrun then killed rank 0 before it saved the model."""
    if world_size() > 1:
        import torch.distributed as dist
        if dist.is_initialized():
            dist.barrier()
            dist.destroy_process_group()
