"""The NASNet search's controller: an RNN that samples child networks, trained with PPO on their rewards
(Zoph et al. 2018, arXiv:1707.07012, section 3 and appendix A).

The paper's settings: a one-layer LSTM with 100 hidden units emits the 2 x 5B = 50 decisions one at a time
(`worker/nas/space.py`), each through its own softmax classifier, each choice fed back as the next step's
input (an embedding of it, as in Zoph & Le 2017, the NAS paper NASNet builds on); every weight starts
uniform in [-0.1, 0.1]. Trained with Proximal Policy Optimization (Schulman et al. 2017, arXiv:1707.06347),
learning rate 0.00035, entropy weight 0.00001, the reward's baseline an exponential moving average of the
previous rewards with weight 0.95, on minibatches of 20 children.

What the paper leaves open, and the defaults chosen here (docs/searches.md says why):
- the PPO clip range 0.2 and 4 epochs over each minibatch (openai-baselines' PPO, as NNI's PPO tuner);
- the optimiser: Adam (the NAS paper's, Zoph & Le 2017), with torch's default betas;
- the baseline starts at the first reward (there is no "previous reward" before it) and each reward's
  advantage is its reward less the baseline of the rewards before it, in the order rewards arrive;
- the entropy weight rewards entropy (a bonus on the objective, so the policy does not collapse early);
- the joint log-probability of a child is the sum over its 50 decisions, and PPO's ratio is taken on it.

Rewards arrive late and out of order (children train in parallel), so the log-probability of each child
is stored when it is sampled: PPO's ratio is new policy over the policy that sampled the child, whatever
updates happened in between. The whole state (weights, optimiser, baseline, random state, children waiting
for a reward or a minibatch, children learned from) is one `state_dict`, so a search survives restarts and
never learns from a child twice.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from worker.engine.genotype import BLOCKS, COMBINES, OPERATIONS
from worker.nas.space import DECISIONS, Child

__all__ = ["Child", "Controller", "Policy", "PPOSettings", "ppo_objective"]


@dataclass(frozen=True)
class PPOSettings:
    lr: float = 0.00035              # the paper
    entropy_weight: float = 0.00001  # the paper
    baseline_decay: float = 0.95     # the paper: EMA weight of the reward baseline
    batch: int = 20                  # the paper: children per update
    clip: float = 0.2                # open: openai-baselines' PPO
    epochs: int = 4                  # open: openai-baselines' PPO
    hidden: int = 100                # the paper: LSTM units
    init_range: float = 0.1          # the paper: uniform initialisation


class Policy(nn.Module):
    """The controller's network: a one-layer LSTM, one softmax classifier per decision, each choice fed back.

    Decisions of one kind (an input state, an operation, a combine) share one embedding table, so "sep_conv_3x3"
    means the same to the LSTM wherever it was chosen; the first step reads a learned start vector.
    """

    def __init__(self, hidden: int = 100, init_range: float = 0.1, generator: torch.Generator | None = None):
        super().__init__()
        self.start = nn.Parameter(torch.empty(1, hidden))
        self.embeddings = nn.ModuleDict({"input": nn.Embedding(1 + BLOCKS, hidden),
                                         "op": nn.Embedding(len(OPERATIONS), hidden),
                                         "combine": nn.Embedding(len(COMBINES), hidden)})
        self.lstm = nn.LSTMCell(hidden, hidden)
        self.classifiers = nn.ModuleList(nn.Linear(hidden, d.choices) for d in DECISIONS)
        with torch.no_grad():
            for p in self.parameters():
                p.uniform_(-init_range, init_range, generator=generator)

    def forward(self, n: int, decisions: Tensor | None = None,
                generator: torch.Generator | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """Sample n children (decisions None) or score the given (n, 50) decisions; returns the decisions,
        each child's log-probability (the sum over its decisions) and its entropy (the sum of every step's
        entropy, given the choices before it)."""
        x = self.start.expand(n, -1)
        state = None
        chosen, log_prob, entropy = [], torch.zeros(n), torch.zeros(n)
        for t, decision in enumerate(DECISIONS):
            h, c = state = self.lstm(x, state)
            log_p = torch.log_softmax(self.classifiers[t](h), dim=-1)
            if decisions is None:
                with torch.no_grad():
                    choice = torch.multinomial(log_p.exp(), 1, generator=generator).squeeze(1)
            else:
                choice = decisions[:, t]
            log_prob = log_prob + log_p.gather(1, choice[:, None]).squeeze(1)
            entropy = entropy - (log_p.exp() * log_p).sum(-1)
            chosen.append(choice)
            x = self.embeddings[decision.kind](choice)
        return torch.stack(chosen, 1), log_prob, entropy


def ppo_objective(log_prob: Tensor, old_log_prob: Tensor, advantage: Tensor, entropy: Tensor, clip: float,
                  entropy_weight: float) -> Tensor:
    """PPO's clipped surrogate objective plus the entropy bonus, averaged over the children (to maximise):
    mean(min(r A, clip(r, 1 - clip, 1 + clip) A)) + entropy_weight * mean(H), r = exp(log_prob - old)."""
    ratio = torch.exp(log_prob - old_log_prob)
    surrogate = torch.minimum(ratio * advantage, torch.clamp(ratio, 1 - clip, 1 + clip) * advantage)
    return surrogate.mean() + entropy_weight * entropy.mean()


@dataclass
class _Rewarded:
    child: Child
    reward: float
    advantage: float


@dataclass
class _Memory:
    """What the controller remembers besides its weights (all of it serialised)."""
    baseline: float | None = None
    next_number: int = 0
    sampled: dict[int, Child] = field(default_factory=dict)     # waiting for a reward
    rewarded: list[_Rewarded] = field(default_factory=list)     # waiting for a minibatch
    learned: set[int] = field(default_factory=set)              # updates were made on these
    updates: int = 0


class Controller:
    """Proposes children and learns from their rewards with PPO; `seed` fixes its weights and its samples."""

    kind = "controller"

    def __init__(self, seed: int = 0, settings: PPOSettings = PPOSettings()):
        self.settings = settings
        self.generator = torch.Generator().manual_seed(seed)
        self.policy = Policy(settings.hidden, settings.init_range, self.generator)
        self.optimizer = torch.optim.Adam(self.policy.parameters(), lr=settings.lr)
        self.memory = _Memory()
        self.last_update: dict[str, Any] | None = None

    # ------------------------------------------------------------------------------------------- sampling

    def propose(self, n: int = 1) -> list[Child]:
        """n new children, each with the log-probability the current policy gives it."""
        with torch.no_grad():
            decisions, log_prob, _ = self.policy(n, generator=self.generator)
        children = []
        for row, lp in zip(decisions.tolist(), log_prob.tolist(), strict=True):
            child = Child(self.memory.next_number, tuple(row), lp)
            self.memory.sampled[child.number] = child
            self.memory.next_number += 1
            children.append(child)
        return children

    def probabilities(self, n: int = 200) -> Tensor:
        """How often each operation is chosen, over the 20 operation decisions of n fresh samples (a
        summary of the policy; draws from a generator of its own, so the search's samples are unchanged)."""
        with torch.no_grad():
            decisions, _, _ = self.policy(n, generator=torch.Generator().manual_seed(12345))
        ops = decisions[:, [t for t, d in enumerate(DECISIONS) if d.kind == "op"]]
        return torch.bincount(ops.flatten(), minlength=len(OPERATIONS)).float() / ops.numel()

    # ------------------------------------------------------------------------------------------- learning

    def tell(self, number: int, reward: float) -> bool:
        """The reward of child `number`; False (and nothing learned) when it was told before. Every
        `settings.batch` rewards make one PPO update."""
        memory = self.memory
        if number in memory.learned or any(r.child.number == number for r in memory.rewarded):
            return False
        child = memory.sampled.pop(number)  # KeyError: never proposed
        # The advantage against the baseline of the rewards before this one; the first reward is the baseline.
        baseline = reward if memory.baseline is None else memory.baseline
        memory.rewarded.append(_Rewarded(child, float(reward), float(reward - baseline)))
        decay = self.settings.baseline_decay
        memory.baseline = decay * baseline + (1 - decay) * reward
        while len(memory.rewarded) >= self.settings.batch:
            batch, memory.rewarded = memory.rewarded[:self.settings.batch], memory.rewarded[self.settings.batch:]
            self._update(batch)
        return True

    def _update(self, batch: list[_Rewarded]) -> None:
        s = self.settings
        decisions = torch.tensor([r.child.decisions for r in batch])
        old_log_prob = torch.tensor([r.child.log_prob for r in batch])
        advantage = torch.tensor([r.advantage for r in batch])
        ratios = []
        for _ in range(s.epochs):
            _, log_prob, entropy = self.policy(len(batch), decisions)
            ratios.append(torch.exp(log_prob - old_log_prob).detach())
            loss = -ppo_objective(log_prob, old_log_prob, advantage, entropy, s.clip, s.entropy_weight)
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
        self.memory.learned.update(r.child.number for r in batch)
        self.memory.updates += 1
        self.last_update = {"children": [r.child.number for r in batch], "first_ratios": ratios[0].tolist(),
                            "advantages": advantage.tolist()}

    @property
    def updates(self) -> int:
        return self.memory.updates

    @property
    def learned(self) -> set[int]:
        return set(self.memory.learned)

    # -------------------------------------------------------------------------------------------- state

    def state_dict(self) -> dict[str, Any]:
        m = self.memory
        return {
            "kind": self.kind, "settings": self.settings.__dict__,
            "policy": self.policy.state_dict(), "optimizer": self.optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "baseline": m.baseline, "next_number": m.next_number, "updates": m.updates,
            "sampled": [c.to_dict() for c in m.sampled.values()],
            "rewarded": [{**r.child.to_dict(), "reward": r.reward, "advantage": r.advantage} for r in m.rewarded],
            "learned": sorted(m.learned),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.policy.load_state_dict(state["policy"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        self.memory = _Memory(
            baseline=state["baseline"], next_number=state["next_number"], updates=state["updates"],
            sampled={c["number"]: Child.from_dict(c) for c in state["sampled"]},
            rewarded=[_Rewarded(Child.from_dict(r), r["reward"], r["advantage"]) for r in state["rewarded"]],
            learned=set(state["learned"]))

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        torch.save(self.state_dict(), buffer)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> Controller:
        state = torch.load(io.BytesIO(data), weights_only=True)
        controller = cls(settings=PPOSettings(**state["settings"]))
        controller.load_state_dict(state)
        return controller
