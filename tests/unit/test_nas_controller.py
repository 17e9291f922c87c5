"""The NASNet search's controller (an LSTM trained with PPO) and random search, its baseline.

The objective and its gradient are checked against values worked out by hand; the learning checks plant a
reward (children that use one operation more score higher) and a control of pure noise, at the paper's
settings (learning rate 0.00035, minibatches of 20)."""

import math
import random

import pytest
import torch

from worker.engine.genotype import OPERATIONS
from worker.nas.controller import Controller, Policy, PPOSettings, ppo_objective
from worker.nas.random_search import RandomSearch
from worker.nas.space import DECISIONS, decisions_of, genotype_of, random_decisions, uniform_log_probability

OP_DECISIONS = [t for t, d in enumerate(DECISIONS) if d.kind == "op"]
TARGET = OPERATIONS.index("conv_3x3")


def planted_reward(decisions) -> float:
    """The share of a child's 20 operations that are the planted one."""
    return sum(decisions[t] == TARGET for t in OP_DECISIONS) / len(OP_DECISIONS)


# -------------------------------------------------------------------------------------------- the space

def test_the_space_is_50_decisions_in_the_papers_order_with_its_uniform_log_probability():
    assert len(DECISIONS) == 50 and [d.cell for d in DECISIONS[:25]] == ["normal"] * 25
    assert [(d.field, d.choices) for d in DECISIONS[20:25]] == [
        ("input_1", 6), ("input_2", 6), ("op_1", 13), ("op_2", 13), ("combine", 2)]
    # 2 x sum over blocks of (2 log(2+b) + 2 log 13 + log 2)
    by_hand = 2 * (2 * math.log(2 * 3 * 4 * 5 * 6) + 10 * math.log(13) + 5 * math.log(2))
    assert uniform_log_probability() == pytest.approx(-by_hand) == pytest.approx(-84.5475, abs=1e-4)


def test_decisions_and_genotypes_map_one_to_one():
    rng = random.Random(3)
    for _ in range(20):
        decisions = random_decisions(rng)
        assert decisions_of(genotype_of(decisions)) == decisions


# ------------------------------------------------------------------------------------------ the policy

def test_the_policy_has_the_papers_shape_and_initialisation():
    policy = Policy()
    assert policy.lstm.hidden_size == 100 and len(policy.classifiers) == 50
    assert [c.out_features for c in policy.classifiers] == [d.choices for d in DECISIONS]
    assert all(p.abs().max() <= 0.1 for p in policy.parameters())


def test_sampled_log_probabilities_are_those_of_scoring_the_same_decisions():
    policy = Policy(generator=torch.Generator().manual_seed(0))
    decisions, log_prob, _ = policy(8, generator=torch.Generator().manual_seed(1))
    _, scored, entropy = policy(8, decisions)
    torch.testing.assert_close(scored, log_prob)
    # Weights within [-0.1, 0.1] start close to the uniform policy.
    assert (log_prob - uniform_log_probability()).abs().max() < 2
    max_entropy = -uniform_log_probability()
    assert ((entropy < max_entropy) & (entropy > max_entropy - 1)).all()


# ------------------------------------------------------------------------------------------------- PPO

def test_ppo_objective_and_its_gradient_against_hand_computed_values():
    log_prob = torch.tensor([-1.0, -2.0, -3.0], requires_grad=True)
    old = torch.tensor([-1.2, -1.5, -3.0])
    advantage = torch.tensor([0.5, -0.3, 0.2])
    entropy = torch.tensor([4.0, 5.0, 6.0])
    objective = ppo_objective(log_prob, old, advantage, entropy, clip=0.2, entropy_weight=0.01)
    # ratios e^0.2 = 1.2214 (clipped to 1.2: A > 0), e^-0.5 = 0.6065 (clipped to 0.8: A < 0 takes the
    # lower, clipped term), 1: surrogates 0.6, -0.24, 0.2; entropy bonus 0.01 * 5.
    assert objective.item() == pytest.approx((0.6 - 0.24 + 0.2) / 3 + 0.05, abs=1e-6)
    objective.backward()
    # Only the unclipped child moves: d/dlog_prob (r A) / 3 = 1 * 0.2 / 3.
    torch.testing.assert_close(log_prob.grad, torch.tensor([0.0, 0.0, 0.2 / 3]))


def test_ppo_gradient_of_a_tiny_controller_against_hand_computed_values():
    # The first decision's classifier bias b: its logits z = W h + b for the same h in every child, so
    # d log p(a) / db = onehot(a) - p and d H / db = -p (log p + H), and nothing after the first step
    # depends on b (the next step reads the embedding of the choice, not its probabilities).
    policy = Policy(hidden=4, generator=torch.Generator().manual_seed(0))
    decisions, _, _ = policy(5, generator=torch.Generator().manual_seed(1))
    _, log_prob, _ = policy(5, decisions)
    old = log_prob.detach() + torch.tensor([0.0, 0.05, -0.05, 0.5, -0.5])  # ratios 1, e^-.05, e^.05, e^-.5, e^.5
    advantage = torch.tensor([0.3, -0.2, 0.1, -0.4, 0.6])
    clip, weight = 0.2, 0.1
    _, log_prob, entropy = policy(5, decisions)
    policy.zero_grad()
    ppo_objective(log_prob, old, advantage, entropy, clip, weight).backward()

    with torch.no_grad():
        h, _ = policy.lstm(policy.start)
        p = torch.softmax(policy.classifiers[0](h)[0], 0)
        h1 = -(p * p.log()).sum()
        ratio = torch.exp(log_prob - old)
        # Children 0-2 have ratios inside [0.8, 1.2]; child 3 (ratio 0.61, A < 0) and child 4 (ratio 1.65,
        # A > 0) are clipped on the side where the clipped term is the smaller: no gradient from them.
        unclipped = torch.tensor([1.0, 1.0, 1.0, 0.0, 0.0])
        expected = torch.zeros_like(p)
        for i in range(5):
            onehot = torch.nn.functional.one_hot(decisions[i, 0], len(p)).float()
            expected += unclipped[i] * ratio[i] * advantage[i] * (onehot - p) / 5
        expected += weight * -p * (p.log() + h1)
    torch.testing.assert_close(policy.classifiers[0].bias.grad, expected, rtol=1e-5, atol=1e-7)


def test_ppo_gradient_is_zero_for_a_child_clipped_on_its_side():
    policy = Policy(hidden=4, generator=torch.Generator().manual_seed(0))
    decisions, log_prob, _ = policy(1, generator=torch.Generator().manual_seed(2))
    _, log_prob, entropy = policy(1, decisions)
    old = log_prob.detach() - 0.5  # ratio e^0.5 = 1.65 > 1.2 with A > 0: the clipped term is the min
    policy.zero_grad()
    ppo_objective(log_prob, old, torch.tensor([1.0]), entropy, 0.2, 0.0).backward()
    assert all(p.grad is None or p.grad.abs().max() == 0 for p in policy.parameters())


# ----------------------------------------------------------------------------------------- the learner

def tell_all(searcher, children, reward=planted_reward):
    for child in children:
        searcher.tell(child.number, reward(child.decisions))


def test_the_controller_keeps_the_papers_settings():
    s = PPOSettings()
    assert (s.lr, s.entropy_weight, s.baseline_decay, s.batch, s.hidden, s.init_range) == \
        (0.00035, 0.00001, 0.95, 20, 100, 0.1)
    controller = Controller()
    assert isinstance(controller.optimizer, torch.optim.Adam)
    assert controller.optimizer.param_groups[0]["lr"] == 0.00035


def test_one_update_per_20_rewards_with_an_ema_baseline_and_no_child_learned_from_twice():
    controller = Controller(seed=0)
    children = controller.propose(25)
    rewards = [0.5 + 0.01 * i for i in range(25)]
    for child, reward in zip(children[:19], rewards, strict=False):
        assert controller.tell(child.number, reward)
    assert controller.updates == 0 and not controller.learned
    assert controller.tell(children[19].number, rewards[19]) and controller.updates == 1
    assert controller.learned == set(range(20))
    # Advantages against the EMA of the rewards before each one; the first reward is the baseline.
    baseline, expected = rewards[0], []
    for r in rewards[:20]:
        expected.append(r - baseline)
        baseline = 0.95 * baseline + 0.05 * r
    assert controller.last_update["advantages"] == pytest.approx(expected, abs=1e-6)
    assert controller.memory.baseline == pytest.approx(baseline)
    assert not controller.tell(children[3].number, 1.0)  # told before: nothing learned
    with pytest.raises(KeyError):
        controller.tell(999, 1.0)


def test_a_late_reward_updates_against_the_policy_that_sampled_the_child():
    controller = Controller(seed=0)
    late = controller.propose(1)[0]
    tell_all(controller, controller.propose(20))  # one update before the late reward arrives
    assert controller.updates == 1
    tell_all(controller, [late, *controller.propose(19)])
    ratio = controller.last_update["first_ratios"][controller.last_update["children"].index(late.number)]
    with torch.no_grad():
        _, before, _ = Controller(seed=0).policy(1, torch.tensor([late.decisions]))
    assert late.log_prob == pytest.approx(before.item(), abs=1e-5)  # stored at sampling
    assert ratio != pytest.approx(1.0, abs=1e-6)  # the policy moved; the ratio says so


def test_the_state_survives_a_round_trip_mid_minibatch():
    a = Controller(seed=4)
    tell_all(a, a.propose(25))  # one update, 5 rewards waiting
    pending = a.propose(3)
    b = Controller.from_bytes(a.to_bytes())
    assert b.learned == a.learned and b.updates == 1 and b.memory.baseline == a.memory.baseline
    for searcher in (a, b):
        tell_all(searcher, pending + searcher.propose(12))
    assert a.updates == b.updates == 2
    for pa, pb in zip(a.policy.parameters(), b.policy.parameters(), strict=True):
        torch.testing.assert_close(pa, pb, rtol=0, atol=0)
    assert [c.decisions for c in a.propose(2)] == [c.decisions for c in b.propose(2)]


def test_random_search_samples_uniformly_and_survives_a_round_trip():
    search = RandomSearch(seed=0)
    children = search.propose(2000)
    ops = [c.decisions[t] for c in children for t in OP_DECISIONS]
    assert max(ops.count(o) for o in range(13)) / len(ops) < 1 / 13 + 0.01
    assert all(c.log_prob == uniform_log_probability() for c in children)
    tell_all(search, children[:10])
    assert not search.tell(children[0].number, 1.0)
    copy = RandomSearch()
    copy.load_state_dict(search.state_dict())
    assert copy.learned == search.learned
    assert [c.decisions for c in copy.propose(3)] == [c.decisions for c in search.propose(3)]


UPDATES = 30  # 600 children


@pytest.mark.slow
def test_a_planted_reward_raises_its_operation_well_above_1_in_13_faster_than_random_search_finds_it():
    controller = Controller(seed=0)
    assert controller.probabilities()[TARGET] < 0.1
    first_found = None  # the first child with 10 or more of its 20 operations the planted one
    for _ in range(UPDATES):
        children = controller.propose(20)
        tell_all(controller, children)
        found = [c.number for c in children if planted_reward(c.decisions) >= 0.5]
        first_found = first_found if first_found is not None or not found else found[0]
    assert controller.probabilities()[TARGET] > 0.3  # about 1/13 = 0.077 at the start
    assert first_found is not None
    # Random search over the same number of children finds no such child (each has odds of about 6e-7).
    randoms = RandomSearch(seed=0).propose(20 * UPDATES)
    assert max(planted_reward(c.decisions) for c in randoms) < 0.5


@pytest.mark.slow
def test_pure_noise_rewards_do_not_concentrate_the_policy():
    controller = Controller(seed=0)
    noise = random.Random(7)
    for _ in range(UPDATES):
        tell_all(controller, controller.propose(20), lambda _: noise.random())
    assert controller.updates == UPDATES
    assert controller.probabilities().max() < 0.12
