"""The NASNet architecture search (Zoph et al. 2018, arXiv:1707.07012): its search space as decisions, the
RNN controller trained with PPO, and random search, the paper's baseline. The controller needs torch; the
search space does not."""
