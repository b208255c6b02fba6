"""Precision and thread counts that pick themselves (train.amp: auto, train.threads: null)."""

import os
from pathlib import Path

import pytest
import torch

from textvae.core.device import (
    autocast_dtype,
    busy_cores,
    choose_threads,
    cuda_has_native_bf16,
    precision_note,
)
from textvae.core.errors import ConfigError

CPU = torch.device("cpu")


@pytest.mark.parametrize("fast", [True, False])
def test_auto_on_the_cpu_is_bf16_only_with_bf16_units(monkeypatch, fast):
    monkeypatch.setattr("textvae.core.device.cpu_has_fast_bf16", lambda: fast)
    dtype = autocast_dtype("auto", CPU)
    assert dtype == (torch.bfloat16 if fast else None)
    note = precision_note("auto", CPU, dtype)
    assert note.startswith("precision: bf16 autocast" if fast else "precision: float32")
    assert ("has AMX or AVX512-BF16" if fast else "has no bf16 matrix units") in note
    assert autocast_dtype("off", CPU) is None and autocast_dtype("bf16", CPU) == torch.bfloat16


def test_auto_on_cuda_asks_for_native_bf16_and_falls_back_to_fp16(monkeypatch):
    asked = []

    def supported(including_emulation=True):
        asked.append(including_emulation)
        return False  # a pre-Ampere GPU: bf16 only by emulation

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", supported)
    cuda = torch.device("cuda", 0)
    assert autocast_dtype("auto", cuda) == torch.float16 and asked == [False]
    assert "fp16 autocast with loss scaling" in precision_note("auto", cuda, torch.float16)


def test_native_bf16_on_a_torch_without_the_emulation_flag(monkeypatch):
    def old_signature():
        return True

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", old_signature)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device: (7, 5))
    assert not cuda_has_native_bf16(torch.device("cuda", 0))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_auto_on_this_gpu_is_a_cuda_dtype():
    assert autocast_dtype("auto", torch.device("cuda")) in (torch.bfloat16, torch.float16)


def test_threads_follow_the_setting_then_omp_then_the_free_cores(monkeypatch):
    monkeypatch.setattr(torch, "get_num_threads", lambda: 4)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert choose_threads(3, cores=4, busy=0.0) == (3, "threads: 3 (train.threads)")
    assert choose_threads(None, cores=4, busy=0.2)[0] == 4  # an idle machine keeps torch's count
    n, note = choose_threads(None, cores=4, busy=2.6)  # three cores' worth of other work
    assert n == 1 and note.startswith("threads: 1 of 4 cores (other processes keep about 2.6 busy")
    assert choose_threads(None, cores=3, busy=9.0)[0] == 1  # never below one
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert choose_threads(None, cores=4, busy=3.0) == (4, "threads: 4 (OMP_NUM_THREADS)")


def test_busy_cores_reads_the_cpu_time_of_this_machine():
    busy = busy_cores(interval=0.05)
    assert busy is None or 0.0 <= busy <= (os.cpu_count() or 1) + 1e-9


# ------------------------------------------------------------------------------------ resolve_device


def test_resolve_device_names_where_the_device_came_from(monkeypatch):
    from textvae.core.device import resolve_device
    from textvae.core.errors import ConfigError

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto", source="--device") == CPU and resolve_device("cpu") == CPU
    with pytest.raises(ConfigError, match=r"^--device cuda: CUDA is not available here; use auto or cpu$"):
        resolve_device("cuda", source="--device")
    with pytest.raises(ConfigError, match=r"^train.device='cuda:1': CUDA is not available here"):
        resolve_device("cuda:1")
    with pytest.raises(ConfigError, match=r"^device='tpu0': unknown device; use auto, cpu, cuda or cuda:N$"):
        resolve_device("tpu0", source="device")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    with pytest.raises(ConfigError, match=r"^--device cuda:5: this machine has 2 CUDA devices \(cuda:0 to cuda:1\)$"):
        resolve_device("cuda:5", source="--device")
    assert resolve_device("cuda:1", source="--device") == torch.device("cuda", 1)


def test_bf16_is_refused_before_any_work_where_the_cpu_cannot_run_rnns_in_it(tiny_config,
                                                                            monkeypatch):
    import textvae.core.device as device
    from textvae.text.training.train import train

    monkeypatch.setitem(device._BF16_RNNS, "cpu", False)  # a CPU without AVX512 or AMX
    cfg = tiny_config("train.amp=bf16", "train.device=cpu")
    with pytest.raises(ConfigError, match=r"^train.amp=bf16: this CPU cannot run LSTM or GRU "
                                          r"layers in bfloat16 .*use train.amp=off or auto$"):
        train(cfg, progress=False, log=lambda _: None)
    assert not Path(cfg.train.out_dir).exists()
    device.check_rnn_precision("off", torch.device("cpu"))  # float32 is always fine
    device.check_rnn_precision("bf16", torch.device("cpu"), has_rnn=False)  # transformers only
    monkeypatch.setitem(device._BF16_RNNS, "cpu", True)
    device.check_rnn_precision("bf16", torch.device("cpu"))


def test_the_bf16_rnn_probe_answers_what_an_lstm_does():
    from textvae.core.device import _BF16_RNNS, cpu_runs_bf16_rnns

    _BF16_RNNS.clear()
    lstm = torch.nn.LSTM(3, 5, batch_first=True)
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            lstm(torch.zeros(2, 4, 3))
        works = True
    except RuntimeError:
        works = False
    assert cpu_runs_bf16_rnns() is works
