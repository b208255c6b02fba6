"""The one helper for recurrent state: LSTM ``(h, c)`` tuples against GRU tensors, layers x directions.

Everything in textvae that builds an RNN, reads its final state, seeds its initial state or
reorders its state along the batch (beam search) goes through these functions, so the layout
rules live in one place and are tested once.

Shape legend:
    B = batch, T = time steps, H = hidden size per direction,
    L = layers, D = directions (2 if bidirectional else 1).

PyTorch lays out a recurrent state as (L*D, B, H) ordered layer0-fwd, layer0-bwd, layer1-fwd, ...
For an LSTM the state is the pair ``(h, c)``, each of that shape; for a GRU it is ``h`` alone.
"""

from collections.abc import Mapping

from torch import Tensor, nn

# An LSTM state is (h, c); a GRU state is h. Both are (L*D, B, H).
RNNState = Tensor | tuple[Tensor, Tensor]

# Small explicit registry (STYLE habit 12): rnn_type -> module class.
RNN_TYPES: dict[str, type[nn.LSTM] | type[nn.GRU]] = {"lstm": nn.LSTM, "gru": nn.GRU}


def make_rnn(
    rnn_type: str,
    input_size: int,
    hidden_size: int,
    num_layers: int,
    bidirectional: bool,
    dropout: float,
    registry: Mapping[str, type[nn.LSTM] | type[nn.GRU]] = RNN_TYPES,
) -> nn.LSTM | nn.GRU:
    """Build a batch-first LSTM or GRU.

    Args:
        rnn_type: ``"lstm"`` or ``"gru"``.
        input_size: features per time step.
        hidden_size: H, hidden units per direction.
        num_layers: L, stacked layers.
        bidirectional: whether each layer also runs right-to-left.
        dropout: dropout between stacked layers. PyTorch applies it only between layers, so it
            is passed as 0 for a single layer (where PyTorch would otherwise warn).
        registry: the classes to build, by ``rnn_type`` (the sentence VAE's parts subclass
            ``nn.LSTM`` and ``nn.GRU``: :mod:`textvae.text.models.rnn_parts`).

    Returns:
        An ``nn.LSTM`` or ``nn.GRU`` with ``batch_first=True``.

    Raises:
        ValueError: if ``rnn_type`` is not in the registry.
    """
    if rnn_type not in registry:
        raise ValueError(f"unknown rnn_type {rnn_type!r}; valid: {sorted(registry)}")
    return registry[rnn_type](
        input_size,
        hidden_size,
        num_layers=num_layers,
        bidirectional=bidirectional,
        dropout=dropout if num_layers > 1 else 0.0,
        batch_first=True,
    )


def final_hidden(state: RNNState, num_layers: int, bidirectional: bool) -> Tensor:
    """Concatenate the final hidden states of all layers and directions, per example.

    For an LSTM only ``h`` is used, not the cell ``c``: ``h`` is what the LSTM itself exposes to
    the next layer and to its outputs (Bowman et al. 2016 read the encoder's final hidden state),
    while ``c`` is unbounded internal memory.

    Run the RNN on a ``pack_padded_sequence`` so the state is the one at each example's true
    length: then the forward direction's entry equals ``output[b, lengths[b] - 1, :H]`` and the
    backward direction's entry equals ``output[b, 0, H:]``.

    Args:
        state: the final state returned by the RNN, (L*D, B, H) or a pair of those.
        num_layers: L.
        bidirectional: whether D = 2.

    Returns:
        (B, L*D*H), ordered layer0-fwd, layer0-bwd, layer1-fwd, ... (PyTorch's own order).
    """
    h = state[0] if isinstance(state, tuple) else state  # (L*D, B, H)
    directions = 2 if bidirectional else 1
    if h.dim() != 3 or h.shape[0] != num_layers * directions:
        raise ValueError(
            f"state of shape {tuple(h.shape)} does not match {num_layers} layer(s) x "
            f"{directions} direction(s)"
        )
    _, batch, hidden = h.shape
    h = h.view(num_layers, directions, batch, hidden)  # (L, D, B, H)
    return h.permute(2, 0, 1, 3).reshape(batch, num_layers * directions * hidden)  # (B, L*D*H)


def init_state(rnn_type: str, pre: Tensor) -> RNNState:
    """Build a (unidirectional) initial state from a pre-activation, e.g. a projection of z.

    - GRU: ``h0 = tanh(pre)``. A GRU's own states are convex mixes of tanh outputs and the
      previous state, so they lie in (-1, 1); tanh keeps h0 in the range the GRU was made for.
    - LSTM: ``c0 = pre`` and ``h0 = tanh(c0)``. The cell is the LSTM's long-term memory (with
      forget gates near 1 what is written there persists across steps), and it is unbounded, so
      the code goes there unsquashed; ``h0 = tanh(c0)`` is the LSTM's own relation
      ``h = o * tanh(c)`` with the output gate open, so both parts of the state carry the code
      and a single projection serves LSTM and GRU alike.

    A zero ``pre`` gives the all-zero state (PyTorch's default), which the LM baseline uses.

    Args:
        rnn_type: ``"lstm"`` or ``"gru"``.
        pre: (L, B, H) pre-activation. Must be contiguous for cuDNN.

    Returns:
        GRU: (L, B, H). LSTM: a pair ``(h0, c0)`` of (L, B, H).
    """
    if rnn_type == "gru":
        return pre.tanh()
    if rnn_type == "lstm":
        return pre.tanh(), pre
    raise ValueError(f"unknown rnn_type {rnn_type!r}; valid: {sorted(RNN_TYPES)}")


def index_state(state: RNNState, index: Tensor) -> RNNState:
    """Select or reorder a state along its batch axis (beam search: keep or repeat hypotheses).

    Args:
        state: (L*D, B, H) or a pair of those.
        index: (B',) long indices into the batch axis, on the state's device.

    Returns:
        The same kind of state with batch size B'. Gradients flow through (nothing is detached).
    """
    if isinstance(state, tuple):
        h, c = state
        return h.index_select(1, index), c.index_select(1, index)
    return state.index_select(1, index)
