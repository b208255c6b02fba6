"""The KL set point (train.kl.kind target): ControlVAE's PI controller on synthetic KL sequences,
its state, and a small run that holds its target."""

import math

import pytest
import torch
from sync import SyncDetector

from textvae.core.kl_control import KL_EMA_DECAY, KLController

# Odd, distinct values, so that no two bounds or gains can stand in for each other.
TARGET, KP, KI, LOW, HIGH = 7.0, 0.03, 0.0013, 0.05, 0.9


def controller(**changes) -> KLController:
    settings = dict(target=TARGET, kp=KP, ki=KI, min_weight=LOW, max_weight=HIGH)
    return KLController(**{**settings, **changes})


def feed(control: KLController, kls) -> list[float]:
    """The weight after each KL of ``kls``."""
    weights = []
    for kl in kls:
        control.observe(torch.tensor(float(kl)))
        weights.append(float(control.weight(0)))
    return weights


def test_the_weight_starts_at_its_floor_and_is_a_tensor():
    control = controller()
    assert isinstance(control.weight(0), torch.Tensor)
    assert float(control.weight(0)) == pytest.approx(LOW)


def test_the_weight_rises_while_the_kl_is_above_target_and_falls_while_below():
    control = controller()
    records = []  # (KL^, I, weight) after each step
    for kl in [TARGET + 3.1] * 29 + [TARGET - 2.3] * 31:
        control.observe(torch.tensor(kl))
        records.append((float(control.kl_average), float(control.integral),
                        float(control.weight(0))))
    # The integral moves with the sign of the error at every step (the average crosses the
    # target 9 steps into the second stretch: 10.1 - 5.4 (1 - 0.9^k) < 7).
    for (_, before, _), (average, after, _) in zip(records, records[1:], strict=False):
        assert (after > before) == (average > TARGET), records
    assert sum(average < TARGET for average, _, _ in records) == 31 - 8
    # The weight: up over the stretch above, down over the stretch below (the P term, which
    # follows the error at once, makes single steps near the crossing go either way).
    weights = [w for _, _, w in records]
    assert weights[28] > weights[0] + 0.03 and weights[-1] < weights[28] - 0.02, weights


def test_the_first_steps_follow_the_formula():
    # With KL^ = first KL, e = target - KL^, P = Kp / (1 + exp(e)), I = -Ki e.
    control = controller()
    kls = [11.3, 4.7]
    weights = feed(control, kls)
    average = kls[0]
    error = TARGET - average
    integral = -KI * error
    assert weights[0] == pytest.approx(KP / (1 + math.exp(error)) + integral + LOW, rel=1e-6)
    average = KL_EMA_DECAY * average + (1 - KL_EMA_DECAY) * kls[1]
    error = TARGET - average
    integral -= KI * error
    assert float(control.kl_average) == pytest.approx(average, rel=1e-6)
    assert weights[1] == pytest.approx(KP / (1 + math.exp(error)) + integral + LOW, rel=1e-6)


def test_the_weight_stays_within_its_bounds():
    control = controller(ki=0.05)
    gen = torch.Generator().manual_seed(3)
    kls = (torch.rand(301, generator=gen) * 60).tolist()  # 0 to 60 nats, far either side
    weights = feed(control, kls)
    assert min(weights) >= LOW and max(weights) <= HIGH
    assert min(weights) == pytest.approx(LOW) and max(weights) == pytest.approx(HIGH)


def test_anti_windup_leaves_a_bound_as_soon_as_the_error_turns():
    # 500 steps 20 nats above target pin the weight at its maximum; an integral that kept
    # integrating would hold 500 x Ki x 20 = 13 and pin it there for hundreds of steps more.
    control = controller()
    assert feed(control, [TARGET + 20] * 500)[-1] == pytest.approx(HIGH)
    assert float(control.integral) <= HIGH - LOW
    # The average needs a few steps to cross the target; then the weight leaves the maximum.
    after = feed(control, [TARGET - 5] * 17)
    assert after[-1] < HIGH - 0.01, after
    # The same at the floor.
    control = controller()
    assert feed(control, [TARGET - 6] * 500)[-1] == pytest.approx(LOW)
    assert float(control.integral) >= -KP
    after = feed(control, [TARGET + 9] * 17)
    assert after[-1] > LOW + 0.01, after


def test_a_nonfinite_kl_changes_nothing():
    control = controller()
    feed(control, [9.1, 8.3])
    before = control.state_dict()
    feed(control, [math.nan, math.inf])
    after = control.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_a_restored_controller_continues_exactly():
    gen = torch.Generator().manual_seed(5)
    kls = (torch.rand(41, generator=gen) * 13).tolist()
    expected = feed(controller(), kls)[19:]
    control = controller()
    feed(control, kls[:19])
    restored = controller()
    restored.load_state_dict(control.state_dict())
    assert feed(restored, kls[19:]) == expected
    assert feed(controller(), kls[19:]) != expected  # the state matters


def test_a_controller_step_never_reads_the_device():
    control = controller()
    kl = torch.tensor(8.9)
    control.observe(kl)
    with SyncDetector() as syncs:
        for _ in range(3):
            weight = control.weight(0)
            control.observe(kl * weight + 5)
    syncs.assert_none()


def _final_kl(run_dir) -> tuple[float, float]:
    """The controller's KL average at the end of a run (from its last checkpoint's trainer state;
    0 for a pure schedule, which keeps none) and the mean training KL of its last 200 steps."""
    import json

    from textvae.text.run.checkpoint import load_checkpoint

    checkpoint = load_checkpoint(run_dir / "last", with_trainer=True)
    kept = checkpoint.trainer_state["remedies"]["kl_schedule"]
    average = float(kept["kl_average"]) if kept else 0.0
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    last = [r["kl"] for r in rows if r["split"] == "train"][-20:]  # logged every 10 steps
    return average, sum(last) / len(last)


SMALL_RUN = ("train.max_steps=400", "train.epochs=1000", "train.log_every=10", "train.threads=1",
             "train.early_stop_patience=null", "train.lr_patience=null",
             "train.checkpoint_every=100000")


def test_a_small_run_holds_its_kl_set_point(tmp_path):
    """Issue 31: the grammar corpus at tests/tiny.py's sizes, 400 steps on the CPU at a constant
    learning rate, with the default gains. The KL held is the training KL: the controller's
    average at the end and the mean of the last 200 steps' logged KL (20 batches: one batch's KL
    moves with its sentences' length, bucketed) both lie within 10% of the target (measured:
    5.16 and 4.70 for 5; the last 100 steps alone 4.48; the last validations 4.1 to 5.8). The
    same run with the ELBO's weight 1 collapses to 0.01 nats (checked here, so that the target is
    no KL the run reaches anyway); with weight 0 it carries 23, with the default logistic
    annealing 17. (Until the LR plateau followed the validation reconstruction under a set point,
    the run's LR halved on the -ELBO and the last 100 steps held 5.15.)"""
    from tiny import train_tiny

    target = 5.0
    plain = train_tiny(tmp_path / "plain", *SMALL_RUN, "train.kl.kind=constant")
    held = train_tiny(tmp_path / "held", *SMALL_RUN, "train.kl.kind=target", f"train.kl.target={target}")
    _, plain_kl = _final_kl(plain)
    assert abs(plain_kl - target) > 0.1 * target, plain_kl
    average, mean_kl = _final_kl(held)
    assert average == pytest.approx(target, rel=0.1)
    assert mean_kl == pytest.approx(target, rel=0.1)
