"""A detector, for tests on the CPU, of the operations that would make the host wait for a GPU.

On a GPU the host queues kernels and runs ahead; it stops and waits ("syncs") whenever it needs a
value the device computes: a tensor turned into a Python number or list, a copy to host memory,
or an operation whose output size depends on the data (the host must learn that size before it
can allocate the output). A step with such a call runs only as fast as host and device taking
turns. None of this shows on the CPU, where nothing waits; :class:`SyncDetector` records the calls
anyway, so a CPU test can fail on them and name the line.

The rule. Inside the detector every tensor counts as a device tensor: the code under test must
carry what it needs on the host as Python numbers (the batch's ``host_lengths``, say), computed
before the step. A CPU test cannot tell a host tensor from a device one, and this rule needs no
marking. It records:

- tensor -> Python conversions, seen as torch functions (:class:`torch.overrides.TorchFunctionMode`):
  ``Tensor.item``, ``tolist``, ``numpy``, ``cpu``, ``__bool__``, ``__int__``, ``__float__``,
  ``__index__``, ``__complex__``; and, seen as ATen operations
  (:class:`torch.utils._python_dispatch.TorchDispatchMode`), ``aten._local_scalar_dense`` (what
  every one of those conversions ends in, including those inside torch's own Python code) and
  ``aten.equal``/``aten.is_nonzero`` (they return a Python bool);
- operations whose output size depends on the data: ``aten.nonzero``, ``aten.masked_select``,
  ``aten.masked_scatter``, ``aten.unique*``, ``aten._unique*``, indexing or index assignment with a boolean mask (``aten.index.Tensor``,
  ``aten.index_put``), and ``aten.repeat_interleave`` without ``output_size``.

One kind of tensor lives on the host on every device, by torch's own design: the ``batch_sizes``
of a :class:`~torch.nn.utils.rnn.PackedSequence` (``pack_padded_sequence`` takes host lengths, and
the recurrent kernels read the sizes on the host). The detector marks that output of
``aten._pack_padded_sequence`` as a host tensor, and so is every output of an operation whose
tensor inputs are all host tensors; nothing done to host tensors is recorded.

A ``.to("cpu")`` is not recorded: on a CPU test it is the same call as moving a batch to the
compute device. The ATen layer also sees the backward pass, so a boolean-mask gather shows up
twice: once at its line in the forward pass, once (as ``index_put``) at ``backward()``.

Each record keeps the innermost frames of the Python stack that belong to textvae (or, when none
does, the innermost frames outside torch), so a failure names the line that asked for the value.

Usage::

    with SyncDetector() as syncs:
        trainer.train_batch(batch)
    syncs.assert_none()
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

_TORCH_DIR = str(Path(torch.__file__).parent)
_THIS_FILE = str(Path(__file__).resolve())

# Tensor methods that hand a value to Python (the host must wait for the device to produce it).
_TO_PYTHON = {
    torch.Tensor.item, torch.Tensor.tolist, torch.Tensor.numpy, torch.Tensor.cpu,
    torch.Tensor.__bool__, torch.Tensor.__int__, torch.Tensor.__float__, torch.Tensor.__index__,
    torch.Tensor.__complex__,
}
# ATen operations that always make the host wait for the device.
_ALWAYS = {"_local_scalar_dense", "equal", "is_nonzero", "nonzero", "masked_select",
           "masked_scatter", "unique_consecutive", "unique_dim", "_unique", "_unique2",
           "unique_dim_consecutive", "argwhere", "nonzero_numpy"}


@dataclass
class SyncRecord:
    """One operation that would block the host: what it was and where it was asked for."""

    op: str
    frames: list[traceback.FrameSummary] = field(default_factory=list)

    def where(self) -> str:
        """The innermost project frame, ``path:line in function: source``."""
        if not self.frames:
            return "(no Python frame)"
        f = self.frames[-1]
        return f"{_short(f.filename)}:{f.lineno} in {f.name}: {(f.line or '').strip()}"

    def __str__(self) -> str:
        chain = " <- ".join(f"{_short(f.filename)}:{f.lineno}" for f in reversed(self.frames[:-1]))
        return f"{self.op} at {self.where()}" + (f"  (called from {chain})" if chain else "")


class SyncDetector:
    """Records, while active, every operation that would block the host on a GPU (the module
    docstring gives the rule). A context manager; :attr:`records` holds what it saw, in order."""

    def __init__(self, context_frames: int = 4) -> None:
        self.records: list[SyncRecord] = []
        self.context_frames = context_frames
        self._function_mode = _FunctionMode(self)
        self._dispatch_mode = _DispatchMode(self)

    def __enter__(self) -> SyncDetector:
        self._function_mode.__enter__()
        self._dispatch_mode.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._dispatch_mode.__exit__(*exc)
        self._function_mode.__exit__(*exc)

    def record(self, op: str) -> None:
        stack = [f for f in traceback.extract_stack()[:-1] if f.filename != _THIS_FILE]
        ours = [f for f in stack if "/textvae/" in f.filename and "/tests/" not in f.filename]
        outside_torch = [f for f in stack if not f.filename.startswith(_TORCH_DIR)]
        frames = ours or outside_torch or stack
        self.records.append(SyncRecord(op, frames[-self.context_frames:]))

    def report(self) -> str:
        """All records, one a line, numbered."""
        return "\n".join(f"  {i + 1}. {r}" for i, r in enumerate(self.records))

    def assert_none(self) -> None:
        """Fail, listing every record, if anything would have blocked the host."""
        if self.records:
            raise AssertionError(
                f"{len(self.records)} operation(s) would block the host on a GPU; the first: "
                f"{self.records[0]}\n{self.report()}"
            )


_HOST = "_sync_detector_host"  # the attribute that marks a host tensor


def _tensors(args, kwargs) -> list[torch.Tensor]:
    flat = [*args, *kwargs.values()]
    flat += [x for a in flat if isinstance(a, (list, tuple)) for x in a]
    return [t for t in flat if isinstance(t, torch.Tensor)]


def _on_host(args, kwargs) -> bool:
    """Whether the call has tensor arguments and all of them are marked host tensors."""
    tensors = _tensors(args, kwargs)
    return bool(tensors) and all(getattr(t, _HOST, False) for t in tensors)


def _mark_host(out) -> None:
    for t in out if isinstance(out, (list, tuple)) else (out,):
        if isinstance(t, torch.Tensor):
            setattr(t, _HOST, True)


class _FunctionMode(TorchFunctionMode):
    def __init__(self, detector: SyncDetector) -> None:
        super().__init__()
        self.detector = detector

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _TO_PYTHON and not _on_host(args, kwargs):
            self.detector.record(f"Tensor.{func.__name__}")
        return func(*args, **kwargs)


class _DispatchMode(TorchDispatchMode):
    def __init__(self, detector: SyncDetector) -> None:
        super().__init__()
        self.detector = detector

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if _on_host(args, kwargs):
            out = func(*args, **kwargs)
            _mark_host(out)
            return out
        reason = _blocking(func, args, kwargs)
        if reason:
            self.detector.record(reason)
        out = func(*args, **kwargs)
        if func._schema.name == "aten::_pack_padded_sequence":
            _mark_host(out[1])  # (data, batch_sizes): the sizes stay on the host
        return out


def _blocking(func, args, kwargs) -> str | None:
    """Why the ATen call ``func(*args, **kwargs)`` would block the host, or None."""
    name = func._schema.name.split("::")[-1]  # e.g. "index" for aten::index.Tensor
    op = f"aten.{name}.{func._overloadname}"
    if name in _ALWAYS or name.startswith(("unique", "_unique")):
        return op
    if name in ("index", "index_put", "index_put_", "_index_put_impl_"):
        indices = args[1] if len(args) > 1 else kwargs.get("indices", ())
        if any(i is not None and i.dtype in (torch.bool, torch.uint8) for i in indices):
            return f"{op} with a boolean mask"
        return None
    if name == "repeat_interleave" and func._overloadname in ("Tensor", "self_Tensor"):
        # Tensor repeats: the output's size is their sum, unless the caller gives it.
        return None if kwargs.get("output_size") is not None else f"{op} without output_size"
    return None


def _short(filename: str) -> str:
    for marker in ("/textvae/", "/tests/", "/torch/"):
        if marker in filename:
            return marker.strip("/") + "/" + filename.split(marker, 1)[1]
    return filename
