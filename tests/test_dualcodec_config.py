"""DualCodec's config groups: one dataclass per part, typos named, older flat configs still load."""

import pytest
import torch

from audiotok.bin.train import check_config_change
from audiotok.config import save_config
from audiotok.errors import UserError
from audiotok.models.dualcodec import DualCodec
from audiotok.models.dualcodec_config import SemanticBranch, upgrade_conf
from audiotok.registry import build_model
from test_spectral_codec import SSL, tiny

FLAT = {  # how model_conf read before the groups (what older packed models and exp dirs hold)
    "sample_rate": 16000, "ssl": SSL, "ssl_layer": -1, "ssl_norm": "running", "ssl_stats_batches": 7,
    "backbone": "spectral", "latent_dim": 32, "encoder_dim": 32, "encoder_strides": [4, 5, 6, 8, 2],
    "decoder_dim": 1536, "decoder_rates": None, "residual_dilations": [1, 3, 9],
    "spectral_encoder": {"dim": 32, "n_mels": 20, "fine_layers": 1, "coarse_layers": 1},
    "spectral_decoder": {"dim": 32, "fine_layers": 1, "coarse_layers": 1},
    "semantic_dim": 32, "semantic_intermediate_dim": 64, "semantic_layers": 1, "semantic_codebook_size": 64,
    "n_acoustic": 3, "acoustic_codebook_size": 32, "quantizer_dropout": 0.5, "usage_decay": 0.9,
    "semantic_only_prob": 0.1, "valid_quality": True, "discriminator": False,
}


def test_a_flat_config_upgrades_to_the_groups_and_builds_the_same_model():
    grouped = upgrade_conf(FLAT)
    assert grouped["semantic"] == {"dim": 32, "intermediate_dim": 64, "layers": 1, "codebook_size": 64}
    assert grouped["acoustic"] == {"n_codebooks": 3, "codebook_size": 32, "dropout": 0.5}
    assert grouped["ssl_features"] == {"layer": -1, "norm": "running", "stats_batches": 7}
    assert grouped["training"] == {"semantic_only_prob": 0.1, "valid_quality": True}
    assert "wave" not in grouped and "encoder_dim" not in grouped  # a spectral model never read them
    torch.manual_seed(0)
    old = build_model({"model": "dualcodec", "model_conf": FLAT})
    torch.manual_seed(0)
    new = DualCodec(**grouped)
    assert old.config == new.config and old.config["semantic"]["causal"] is True
    assert all(torch.equal(a, b) for a, b in zip(old.state_dict().values(), new.state_dict().values()))
    assert upgrade_conf(grouped) == grouped


def test_groups_accept_dataclasses_and_name_typos_and_misplaced_parts():
    m = tiny(semantic=SemanticBranch(dim=16, intermediate_dim=32, layers=1, codebook_size=32))
    assert m.streams[0].codebook_size == 32 and m.config["semantic"]["dim"] == 16
    with pytest.raises(UserError, match=r"dualcodec: semantic: unknown key\(s\) codebok_size \(known: dim, "):
        tiny(semantic={"codebok_size": 8})
    with pytest.raises(UserError, match="`wave` configures backbone: wave, but backbone is spectral"):
        tiny(wave={"encoder_dim": 8})
    with pytest.raises(UserError, match="spectral_encoder/spectral_decoder configure backbone: spectral"):
        tiny(backbone="wave")
    with pytest.raises(UserError, match="'n_acoustic' and 'acoustic.n_codebooks' disagree"):
        upgrade_conf({"n_acoustic": 3, "acoustic": {"n_codebooks": 4}})


def test_resuming_a_flat_exp_dir_with_the_grouped_config_is_the_same_config(tmp_path):
    save_config({"model": "dualcodec", "model_conf": FLAT, "trainer": {"max_steps": 5}}, tmp_path / "config.yaml")
    grouped = {"model": "dualcodec", "model_conf": upgrade_conf(FLAT), "trainer": {"max_steps": 9}}
    assert check_config_change(grouped, tmp_path, resume=True) == ["trainer.max_steps"]
    grouped["model_conf"]["acoustic"]["n_codebooks"] = 4
    with pytest.raises(UserError, match=r"the config differs .*\(model_conf\.acoustic\.n_codebooks\)"):
        check_config_change(grouped, tmp_path, resume=True)
