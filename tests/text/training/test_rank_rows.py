"""One rank's rows of a global batch: the rows Distributed.rows names, cut to their longest."""

import torch

from textvae.core.distributed import Distributed
from textvae.core.objectives import LossTerms
from textvae.text.training.rank_rows import StepRows, global_terms, this_ranks_rows

B, T, Z = 7, 9, 5
HOST_LENGTHS = [9, 2, 4, 3, 8, 5, 2]  # words + eos; row 0 and row 4 are the long ones


def step(with_deletion: bool = True) -> StepRows:
    ids = torch.arange(B * (T + 1)).view(B, T + 1)
    kept = [length - 1 for length in HOST_LENGTHS]  # one word deleted from every row
    encoder = (torch.arange(B * (T - 1)).view(B, T - 1), torch.tensor(kept), kept)
    return StepRows(ids, ids[:, :-1] + 1000, torch.tensor(HOST_LENGTHS), HOST_LENGTHS,
                    torch.arange(B * Z, dtype=torch.float32).view(B, Z),
                    encoder if with_deletion else None)


def test_a_rank_takes_its_rows_cut_to_their_longest_sentence():
    whole = step()
    part = this_ranks_rows(whole, Distributed(rank=1, world_size=3))  # rows 1 and 4
    assert part.host_lengths == [2, 8] and part.lengths.tolist() == [2, 8]
    assert torch.equal(part.ids, whole.ids[[1, 4], :9])  # (b, 8 + 1)
    assert torch.equal(part.decoder_inputs, whole.decoder_inputs[[1, 4], :8])  # (b, 8)
    assert part.eps is not None and torch.equal(part.eps, whole.eps[[1, 4]])  # (b, Z)
    assert part.encoder_inputs is not None
    tokens, lengths, kept = part.encoder_inputs
    assert kept == [1, 7] and lengths.tolist() == [1, 7]
    assert torch.equal(tokens, whole.encoder_inputs[0][[1, 4], :7])  # (b, 7)


def test_the_lm_baseline_and_no_deletion_pass_through_as_none():
    part = this_ranks_rows(step(with_deletion=False)._replace(eps=None),
                           Distributed(rank=2, world_size=3))  # rows 2 and 5
    assert part.host_lengths == [4, 5] and part.ids.shape == (2, 6)
    assert part.eps is None and part.encoder_inputs is None


def test_one_process_keeps_its_terms():
    terms = LossTerms(torch.tensor(3.0), torch.tensor(2.0), torch.tensor(1.5), torch.tensor(0.5), 0.25)
    total = global_terms(terms, 0.4, Distributed())  # a single process: no all-reduce
    assert torch.allclose(torch.stack(total[:4]), torch.tensor([1.2, 0.8, 0.6, 0.2]))
    assert total.kl_weight == 0.25
