"""YAML configs: base_config merging."""

from audiotok.config import load_config


def test_a_child_that_names_another_component_starts_its_settings_afresh(tmp_path):
    (tmp_path / "base.yaml").write_text(
        "scheduler: warmup_cosine\nscheduler_conf: {warmup_steps: 100, min_lr_ratio: 0.05}\n"
        "optim: adamw\noptim_conf: {lr: 0.002, betas: [0.9, 0.98]}\n")
    (tmp_path / "child.yaml").write_text(
        "base_config: base.yaml\nscheduler: exponential\nscheduler_conf: {gamma: 0.9999}\noptim_conf: {lr: 0.001}\n")
    cfg = load_config(tmp_path / "child.yaml")
    assert cfg["scheduler"] == "exponential" and cfg["scheduler_conf"] == {"gamma": 0.9999}
    # the same optimiser: its settings still merge with the base's
    assert cfg["optim_conf"] == {"lr": 0.001, "betas": [0.9, 0.98]}
    (tmp_path / "same.yaml").write_text("base_config: base.yaml\nscheduler: warmup_cosine\nscheduler_conf: {warmup_steps: 5}\n")
    assert load_config(tmp_path / "same.yaml")["scheduler_conf"] == {"warmup_steps": 5, "min_lr_ratio": 0.05}
