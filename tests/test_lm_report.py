"""lm-report's model table names the step of the weights it scored, not the run's last step."""

import json

from audiotok.bin.lm_report import setup_table
from audiotok.train.checkpoint import weights_step


def test_models_table_gives_the_step_of_the_packed_weights(tmp_path):
    best = tmp_path / "best_of_run" / "model"
    best.mkdir(parents=True)
    (best / "meta.json").write_text(json.dumps({"model_id": "ulm-a", "steps": 4000, "steps_run": 4392,
                                                "best_metric": {"name": "loss", "value": 3.5, "step": 4000}}))
    old = tmp_path / "older_pack"
    old.mkdir()  # packed before steps_run: `steps` was the run's last step, the best step is in best_metric
    (old / "meta.json").write_text(json.dumps({"model_id": "ulm-b", "steps": 4392,
                                               "best_metric": {"name": "loss", "value": 3.5, "step": 4000}}))
    final = tmp_path / "final"
    final.mkdir()  # never validated: its weights are the last step's
    (final / "meta.json").write_text(json.dumps({"model_id": "ulm-c", "steps": 12}))
    for name, d in (("a", best.parent), ("b", old), ("c", final)):
        (tmp_path / f"dec_{name}").mkdir()
        (tmp_path / f"dec_{name}" / "stats.json").write_text(json.dumps({"model": str(d)}))
    table = setup_table({n: str(tmp_path / f"dec_{n}") for n in "abc"}, {})
    rows = {line.split("|")[1].strip(): line.split("|")[6].strip() for line in table.splitlines()[2:]}
    assert rows == {"a": "4000", "b": "4000", "c": "12"}
    assert weights_step({}) is None
