"""YAML configs: `base_config:` include, dotted command-line overrides, dumping the resolved config, and
the small dataclasses (config groups) that models read their settings from."""

import copy
import dataclasses
import json
import os
from pathlib import Path

import yaml

from audiotok.errors import UserError


# A config that names another component than its base starts that component's settings afresh:
# a base's warmup_cosine `min_lr_ratio` means nothing to an exponential scheduler.
COMPONENT_KEYS = ("model", "dataset", "optim", "scheduler", "optim_d", "scheduler_d")


def _merge(base, over):
    out = copy.deepcopy(base)
    for key in COMPONENT_KEYS:
        if key in over and key in out and over[key] != out[key]:
            out.pop(f"{key}_conf", None)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def load_config(path, overrides=()):
    """Read a YAML config; a `base_config` key (relative to the file) is loaded first and merged under it."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: config file not found")
    try:
        with open(path) as f:
            cfg = yaml.safe_load(f) or {}
    except yaml.YAMLError as e:
        raise UserError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(cfg, dict):
        raise UserError(f"{path}: a config must be a mapping at the top level")
    base = cfg.pop("base_config", None)
    if base:
        cfg = _merge(load_config(path.parent / base), cfg)
    for item in overrides:
        apply_override(cfg, item)
    return cfg


def apply_override(cfg, item):
    """`trainer.max_steps=10` sets cfg['trainer']['max_steps'] = 10 (value parsed as YAML)."""
    if "=" not in item:
        raise UserError(f"override '{item}' must look like key.sub=value")
    key, value = item.split("=", 1)
    node = cfg
    parts = key.split(".")
    for p in parts[:-1]:
        node = node.setdefault(p, {})
        if not isinstance(node, dict):
            raise UserError(f"override '{item}': '{p}' is not a section")
    node[parts[-1]] = yaml.safe_load(value)
    return cfg


def save_config(cfg, path):
    """Write atomically so a crash never leaves half a config behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    with open(tmp, "w") as f:
        yaml.safe_dump(cfg, f, sort_keys=False)
    os.replace(tmp, path)


def plain_config(arguments, skip=()):
    """A model's constructor arguments (its `locals()`) as plain YAML data: config groups become
    mappings and tuples lists, so `self.config` rebuilds the model and dumps as plain YAML."""
    values = {k: dataclasses.asdict(v) if dataclasses.is_dataclass(v) else v for k, v in arguments.items()
              if k not in ("self", "__class__", *skip)}
    return json.loads(json.dumps(values))


def config_group(cls, value, where, defaults=None):
    """The dataclass `cls` from its YAML mapping `value` over `defaults` (the owning model's, where they
    differ from the dataclass's): unknown keys are an error that names `where` and the known keys, so
    a typo never silently keeps a default."""
    if isinstance(value, cls):
        return value
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise UserError(f"{where}: expected a mapping, got {value!r}")
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(value) - set(names))
    if unknown:
        raise UserError(f"{where}: unknown key(s) {', '.join(unknown)} (known: {', '.join(names)})")
    return cls(**{**(defaults or {}), **value})


def group_flat_keys(conf, moves, where):
    """Rewrite an older flat `model_conf` into config groups: `moves` maps a flat key to
    (group, key). Packed models and exp dirs written before the groups existed keep loading."""
    conf = dict(conf or {})
    for flat, (group, key) in moves.items():
        if flat not in conf:
            continue
        value = conf.pop(flat)
        grouped = dict(conf.get(group) or {})
        if key in grouped and grouped[key] != value:
            raise UserError(f"{where}: '{flat}' and '{group}.{key}' disagree ({value!r} vs {grouped[key]!r}); "
                            f"keep '{group}.{key}'")
        grouped[key] = value
        conf[group] = grouped
    return conf
