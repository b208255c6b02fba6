"""Precision that picks itself (train.amp: auto)."""

import pytest
import torch

from textvae.device import autocast_dtype, cuda_has_native_bf16, precision_note

CPU = torch.device("cpu")


@pytest.mark.parametrize("fast", [True, False])
def test_auto_on_the_cpu_is_bf16_only_with_bf16_units(monkeypatch, fast):
    monkeypatch.setattr("textvae.device.cpu_has_fast_bf16", lambda: fast)
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
