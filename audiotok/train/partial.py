"""Training part of a model (`trainer.train_only`): e.g. a codec's decoder alone, so the tokens its
frozen encoder and quantizers give stay exactly those an LM already learned.

Everything outside the named parts is frozen: no gradients, no optimizer state, and eval mode in
training too, so quantizers neither update their codebooks nor restart codes and dropout is off.
"""

from audiotok.errors import UserError


def _under(name, parts):
    return any(name == p or name.startswith(p + ".") for p in parts)


def freeze_outside(model, parts):
    """Freeze every parameter of `model` outside the dotted module names `parts` (e.g. ["decoder"]).
    Returns the outermost frozen submodules, which the trainer keeps in eval mode."""
    parts = [str(p).rstrip(".") for p in parts]
    names = [n for n, _ in model.named_parameters()]
    empty = [p for p in parts if not any(_under(n, [p]) for n in names)]
    if empty:
        raise UserError(f"trainer.train_only: {', '.join(empty)} names no parameters of the model "
                        f"(its parts: {', '.join(sorted({n.split('.')[0] for n in names}))})")
    for name, p in model.named_parameters():
        if not _under(name, parts):
            p.requires_grad_(False)

    def outermost(module, prefix):
        out = []
        for name, child in module.named_children():
            full = prefix + name
            if _under(full, parts):
                continue
            if any(p.startswith(full + ".") for p in parts):  # holds a trained part: look inside
                out += outermost(child, full + ".")
            else:
                out.append(child)
        return out

    return outermost(model, "")


__all__ = ["freeze_outside"]
