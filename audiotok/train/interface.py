"""What the trainer asks of a model. Every trainable model in audiotok/models implements this.

    out = model.forward_train(batch, step)            # generator / main forward, returns a dict
    loss, logs = model.generator_loss(batch, out, step)   # scalar tensor, {name: float}
    # GAN models only (they own a `discriminator` submodule):
    loss_d, logs_d = model.discriminator_loss(batch, out, step)   # uses out[...] detached

`batch` is what the dataset's collate returns (a dict of tensors, e.g. {"wav": [B,1,T]}).
The trainer builds one optimizer over the parameters outside `discriminator` that require
grad, and a second one over `discriminator` when the model has it and
`model.uses_discriminator(step)` is true for some step. Validation runs forward_train +
generator_loss under no_grad and averages `logs`; the config's `trainer.best_metric` (a key
of logs, lower is better) selects the best checkpoint.

Optional hooks:
    model.on_train_step_end(step)       e.g. dead-code restart of codebooks
    model.uses_discriminator(step)      default: False when there is no discriminator
"""

from typing import Protocol


class Trainable(Protocol):
    def forward_train(self, batch: dict, step: int) -> dict: ...

    def generator_loss(self, batch: dict, out: dict, step: int): ...
