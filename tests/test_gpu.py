"""CUDA path: bf16 autocast training with fp32 scorer state. Skipped (and reported so) without CUDA."""

import pytest
import torch

from igu_suite.config import apply_overrides
from igu_suite.presets import preset_config
from igu_suite.run import execute_run

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


@pytest.mark.parametrize("scorer", ["adalora", "ig_snr"])
def test_bf16_run_on_cuda(scorer, tmp_path, data_dir):
    config = apply_overrides(preset_config("smoke", "sst2"), [f"data_dir={data_dir}", f"scorer.name={scorer}",
                                                               "train.device=cuda", "train.bf16=true"])
    record = execute_run(config, tmp_path / "run")
    assert record["memory_kind"] == "cuda_max_allocated"
    assert record["peak_memory_mb"] > 0
    assert 0.0 <= record["metrics"]["accuracy"] <= 1.0
