"""The statistics of runs that differ only by seed: one implementation for the compare page, the tables, the
searches and the exports.

- `summarize`: n, mean, sample std, standard error and the 95% confidence interval of the mean (Student's t)
  of one value per seed (a metric at the last epoch, or at the best one).
- `paper_verdict`: whether a paper's number lies inside that interval, the difference with its interval, a
  one-sample t-test, and a plain sentence.
- `compare_two`: the difference of two groups' means with its 95% interval, Welch's t-test (unequal
  variances, Welch 1947) and the Mann-Whitney U rank test (Mann & Whitney 1947), and a verdict that never
  claims more than the data say: a test that finds nothing says "no difference detected at n = ...", never
  "the same".
- `seeds_needed`: seeds per group for a two-sided two-sample t-test to tell apart a difference delta at
  significance alpha with the given power, from the noncentral t distribution (Cohen 1988, ch. 2).

The distributions are scipy.stats'; the functions here are the glue and the wording.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from functools import lru_cache

from scipy import stats as dist

from .schemas import Difference, PaperVerdict, RankTest, SeedsNeeded, SeedStats, TwoGroupComparison, WelchTest

__all__ = ["CONFIDENCE", "ONE_RUN", "summarize", "paper_verdict", "compare_two", "power_two_sample",
           "seeds_needed", "pooled_sigma", "MAX_SEEDS_PLANNED"]

CONFIDENCE = 0.95
ONE_RUN = "one run: no interval"
ZERO_SPREAD = ("the runs agree exactly: the interval has zero width, which says the seeds did not vary here, "
               "not that the mean is known exactly")
MAX_SEEDS_PLANNED = 100_000
# Above these sizes the exact null distribution of U is slow to enumerate; the normal approximation is good there.
EXACT_RANK_TEST_MAX = 40


def _text(value: float, digits: int = 2) -> str:
    return f"{value:.{digits}f}"


@lru_cache(maxsize=1024)
def _t_quantile(df: int) -> float:
    # scipy's ppf costs ~50 us a call: a comparison of a 40-cell table asks it for ~700 statistics, at few dfs.
    return float(dist.t.ppf(0.5 + CONFIDENCE / 2, df))


def _interval(mean: float, sem: float, df: int) -> tuple[float, float]:
    half = _t_quantile(df) * sem
    return mean - half, mean + half


def _stdev(xs: list[float], mean: float) -> float:
    """The sample standard deviation in floats (statistics.stdev's exact fractions cost ~0.1 ms a call, and a
    table's comparison makes hundreds); exactly 0 when every value is the same."""
    if min(xs) == max(xs):
        return 0.0
    return math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / (len(xs) - 1))


def summarize(values: Iterable[float | None]) -> SeedStats | None:
    """The statistics of one value per seed; None (missing) values, and the NaN or infinite losses of a run
    that diverged, are counted in `missing`, not in n. None when no value is there at all."""
    given = list(values)
    xs = [float(v) for v in given if v is not None and math.isfinite(v)]
    missing = len(given) - len(xs)
    if not xs:
        return None
    n, mean = len(xs), statistics.fmean(xs)
    std = sem = ci = None
    note = ONE_RUN if n == 1 else None
    if n >= 2:
        std = _stdev(xs, mean)
        sem = std / math.sqrt(n)
        ci = _interval(mean, sem, n - 1) if sem > 0 else (mean, mean)
        note = ZERO_SPREAD if sem == 0 else None
    if missing:
        left_out = f"{missing} run{'s' if missing != 1 else ''} without this metric left out"
        note = f"{note}; {left_out}" if note else left_out
    return SeedStats(n=n, mean=mean, std=std, sem=sem, min=min(xs), max=max(xs), ci95=ci, missing=missing,
                     note=note)


def paper_verdict(summary: SeedStats, reported: float) -> PaperVerdict | None:
    """Our interval against the paper's number (taken as exact: the papers give no spread for most cells).
    None with fewer than two runs: there is no interval to compare with."""
    if summary.n < 2 or summary.ci95 is None:
        return None
    low, high = summary.ci95
    diff = summary.mean - reported
    inside = low <= reported <= high
    where = f"[{_text(low)}, {_text(high)}] (mean {_text(summary.mean)}, n = {summary.n})"
    p = None
    if summary.sem:
        t = diff / summary.sem
        p = float(2 * dist.t.sf(abs(t), summary.n - 1))
    if inside:
        sentence = f"consistent with the paper: {_text(reported)} lies inside our 95% interval {where}"
    else:
        side = "below" if reported < summary.mean else "above"
        sentence = (f"{_text(reported)} lies outside our 95% interval {where}: {_text(abs(diff))} {side} our "
                    f"mean")
    if summary.sem == 0:
        sentence += "; our runs did not vary, so the interval understates the uncertainty"
    return PaperVerdict(reported=reported, inside_ci95=inside, difference=diff,
                        difference_ci95=(low - reported, high - reported),
                        test="one-sample t-test (two-sided), the paper's number taken as exact", p_value=p,
                        sentence=sentence)


def _rank_test(a: Sequence[float], b: Sequence[float]) -> RankTest:
    n1, n2 = len(a), len(b)
    ties = len(set(a) | set(b)) < n1 + n2
    exact = not ties and n1 + n2 <= EXACT_RANK_TEST_MAX
    result = dist.mannwhitneyu(a, b, alternative="two-sided", method="exact" if exact else "asymptotic")
    smallest = min(1.0, 2 / math.comb(n1 + n2, n1)) if exact else None
    name = f"Mann-Whitney U rank test (two-sided, {'exact' if exact else 'normal approximation'})"
    note = ("a rank test for small n: it assumes no normal distribution, but with few seeds it has little power"
            + (f"; with n = {n1} and {n2} its smallest possible p is {smallest:.3g}" if smallest else "")
            + (", so it cannot reach 5% here" if smallest and smallest > 0.05 else "")
            + ("; tied values: normal approximation" if ties else ""))
    return RankTest(test=name, statistic=float(result.statistic), p_value=float(result.pvalue),
                    smallest_possible_p=smallest, note=note)


def compare_two(a: Sequence[float], b: Sequence[float], *, labels: tuple[str, str] = ("A", "B"),
                alpha: float = 0.05) -> TwoGroupComparison:
    """The difference mean(a) - mean(b), Welch's t-test and the rank test. Each side needs two values."""
    if len(a) < 2 or len(b) < 2:
        raise ValueError("each group needs at least two values")
    sa, sb = summarize(a), summarize(b)
    la, lb = labels
    sizes = f"n = {sa.n} and {sb.n}"
    diff = sa.mean - sb.mean
    welch = None
    ci = None
    if sa.sem or sb.sem:
        result = dist.ttest_ind(a, b, equal_var=False)
        interval = result.confidence_interval(CONFIDENCE)
        ci = (float(interval.low), float(interval.high))
        welch = WelchTest(test="Welch's t-test (two-sided, unequal variances)", statistic=float(result.statistic),
                          df=float(result.df), p_value=float(result.pvalue))
    rank = _rank_test(a, b)
    if welch is None:
        verdict = (f"neither group varies ({sizes}): no t-test is possible; "
                   + (f"{la}'s runs all read {_text(sa.mean)}, {lb}'s {_text(sb.mean)}" if diff else
                      "every run read the same value"))
    elif welch.p_value < alpha:
        direction = "lower" if diff < 0 else "higher"
        verdict = (f"{la}'s mean is {_text(abs(diff))} {direction} than {lb}'s (95% interval of the difference "
                   f"[{_text(ci[0])}, {_text(ci[1])}]; Welch's t-test p = {welch.p_value:.3g}; {sizes})")
    else:
        reach = max(abs(ci[0]), abs(ci[1]))
        verdict = (f"no difference detected at {sizes} (Welch's t-test p = {welch.p_value:.3g}): the difference "
                   f"{la} - {lb} is {_text(diff)}, 95% interval [{_text(ci[0])}, {_text(ci[1])}], so differences "
                   f"up to {_text(reach)} are not ruled out")
    return TwoGroupComparison(a=sa, b=sb, difference=Difference(estimate=diff, ci95=ci), welch=welch,
                              rank_test=rank, alpha=alpha, verdict=verdict)


def power_two_sample(n: int, effect: float, alpha: float) -> float:
    """Power of the two-sided two-sample t-test with n per group at standardised effect delta / sigma."""
    df = 2 * n - 2
    critical = float(dist.t.ppf(1 - alpha / 2, df))
    noncentrality = effect * math.sqrt(n / 2)
    power = float(dist.nct.sf(critical, df, noncentrality) + dist.nct.cdf(-critical, df, noncentrality))
    return 1.0 if math.isnan(power) else power  # scipy's nct gives NaN far out in the tail, where power is 1


def seeds_needed(*, sigma: float, delta: float, alpha: float = 0.05, power: float = 0.8) -> SeedsNeeded:
    """The smallest n per group (at least 2) whose power reaches `power`; None beyond MAX_SEEDS_PLANNED."""
    if sigma <= 0 or delta <= 0 or not 0 < alpha < 1 or not 0 < power < 1:
        raise ValueError("sigma and delta must be positive, alpha and power inside (0, 1)")
    effect = delta / sigma
    low, high = 2, 2
    while power_two_sample(high, effect, alpha) < power:  # doubling, then bisection: power grows with n
        if high >= MAX_SEEDS_PLANNED:
            return SeedsNeeded(per_group=None, sigma=sigma, delta=delta, alpha=alpha, power=power,
                               achieved_power=None, test="two-sided two-sample t-test",
                               sentence=f"to tell {delta:g} apart at σ {sigma:.3g} you would need more than "
                                        f"{MAX_SEEDS_PLANNED:,} seeds a group")
        low, high = high, min(2 * high, MAX_SEEDS_PLANNED)
    while low < high:
        middle = (low + high) // 2
        if power_two_sample(middle, effect, alpha) >= power:
            high = middle
        else:
            low = middle + 1
    return SeedsNeeded(per_group=high, sigma=sigma, delta=delta, alpha=alpha, power=power,
                       achieved_power=power_two_sample(high, effect, alpha), test="two-sided two-sample t-test",
                       sentence=f"to tell {delta:g} apart at σ {sigma:.3g} you need {high} seeds a group "
                                f"({alpha:g} significance, {power:.0%} power)")


def pooled_sigma(spreads: Iterable[tuple[int, float | None]]) -> tuple[float, int, int] | None:
    """The pooled standard deviation over groups, each given as (n, sample std), of those with at least two
    runs: (sigma, degrees of freedom, groups used); None when no group has two runs."""
    usable = [(n, std) for n, std in spreads if n >= 2 and std is not None]
    df = sum(n - 1 for n, _ in usable)
    if not df:
        return None
    return math.sqrt(sum((n - 1) * std**2 for n, std in usable) / df), df, len(usable)
