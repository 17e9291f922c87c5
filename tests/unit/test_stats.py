"""backend/stats.py against values computed independently: scipy's own functions called directly, textbook
formulas written out here, and published sample sizes (Cohen 1988, Table 2.4.1: d = 0.5 needs 64 a group,
d = 0.8 needs 26, at alpha 0.05 two-sided and power 0.8)."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest
from scipy import stats as sps

from backend.stats import ONE_RUN, compare_two, paper_verdict, pooled_sigma, power_two_sample, seeds_needed, summarize

T_975_1 = 12.7062  # Student's t, 97.5th percentile, 1 degree of freedom (any statistics table)


# ------------------------------------------------------------------------------------------- summaries

def test_a_summary_matches_scipys_mean_sem_and_t_interval():
    xs = [2.86, 2.98, 2.79, 3.05, 2.91]
    s = summarize(xs)
    assert s.n == 5 and s.mean == pytest.approx(np.mean(xs))
    assert s.std == pytest.approx(np.std(xs, ddof=1)) and s.sem == pytest.approx(sps.sem(xs))
    assert s.ci95 == pytest.approx(sps.t.interval(0.95, 4, loc=np.mean(xs), scale=sps.sem(xs)))
    assert (s.min, s.max, s.missing, s.note) == (2.79, 3.05, 0, None)


def test_one_run_has_no_interval_and_says_so():
    s = summarize([3.1])
    assert (s.n, s.mean, s.std, s.sem, s.ci95) == (1, 3.1, None, None, None)
    assert s.note == ONE_RUN == "one run: no interval"


def test_two_runs_use_t_with_one_degree_of_freedom():
    s = summarize([3.0, 3.2])
    half = T_975_1 * statistics.stdev([3.0, 3.2]) / math.sqrt(2)
    assert s.ci95 == pytest.approx((3.1 - half, 3.1 + half), rel=1e-5)


def test_zero_spread_gives_a_zero_width_interval_with_a_warning():
    s = summarize([2.5, 2.5, 2.5])
    assert s.std == 0 and s.sem == 0 and s.ci95 == (2.5, 2.5)
    assert "zero width" in s.note and "not that the mean is known exactly" in s.note


def test_the_float_spread_is_statistics_stdev_and_exactly_zero_for_equal_values_whose_mean_rounds():
    rng = np.random.default_rng(3)
    for _ in range(200):
        xs = list(rng.uniform(0, 30, size=rng.integers(2, 10)))
        assert summarize(xs).std == pytest.approx(statistics.stdev(xs), rel=1e-12)
    # three 0.1s: their float mean is not 0.1, and x - mean would give a spread of about 1e-17
    assert statistics.fmean([0.1] * 3) != 0.1
    assert summarize([0.1] * 3).std == 0.0


def test_runs_missing_the_metric_are_left_out_of_n_and_counted():
    s = summarize([3.0, None, 3.2, float("nan"), float("inf")])  # NaN and inf: a loss that diverged
    assert s.n == 2 and s.missing == 3 and s.mean == pytest.approx(3.1)
    assert "3 runs without this metric left out" in s.note
    assert summarize([None, None]) is None and summarize([]) is None


# ------------------------------------------------------------------------------------------- the paper

def test_a_paper_number_outside_our_interval_is_said_with_the_distance():
    ours = summarize([2.44, 2.50, 2.56, 2.48, 2.52])
    v = paper_verdict(ours, 2.31)
    assert v.inside_ci95 is False and v.difference == pytest.approx(0.19)
    assert v.sentence == "2.31 lies outside our 95% interval [2.44, 2.56] (mean 2.50, n = 5): 0.19 below our mean"
    assert v.difference_ci95 == pytest.approx((ours.ci95[0] - 2.31, ours.ci95[1] - 2.31))
    assert v.p_value == pytest.approx(sps.ttest_1samp([2.44, 2.50, 2.56, 2.48, 2.52], 2.31).pvalue)
    assert "one-sample t-test" in v.test


def test_a_paper_number_inside_our_interval_is_consistent():
    v = paper_verdict(summarize([2.80, 2.90, 2.95]), 2.86)
    assert v.inside_ci95 is True and v.sentence.startswith("consistent with the paper: 2.86 lies inside our 95%")
    assert "n = 3" in v.sentence


def test_one_run_has_no_paper_verdict():
    assert paper_verdict(summarize([2.9]), 2.86) is None


# ------------------------------------------------------------------------------------------- two groups

def welch_by_hand(a, b):
    """Welch (1947): the difference's standard error and the Welch-Satterthwaite degrees of freedom."""
    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    return math.sqrt(va + vb), df


def test_welchs_test_and_the_differences_interval_match_the_formulas():
    a, b = [2.86, 2.98, 2.79, 3.05, 2.91], [3.10, 3.02, 3.21]  # unequal sizes
    r = compare_two(a, b)
    se, df = welch_by_hand(a, b)
    diff = statistics.fmean(a) - statistics.fmean(b)
    assert r.difference.estimate == pytest.approx(diff) and r.welch.df == pytest.approx(df)
    assert r.welch.statistic == pytest.approx(diff / se)
    assert r.welch.p_value == pytest.approx(2 * sps.t.sf(abs(diff / se), df))
    half = sps.t.ppf(0.975, df) * se
    assert r.difference.ci95 == pytest.approx((diff - half, diff + half))
    assert r.welch.test.startswith("Welch's t-test") and (r.a.n, r.b.n) == (5, 3)


def test_the_rank_test_is_mann_whitney_exact_and_says_how_small_its_p_can_get():
    r = compare_two([1.0, 2.0, 3.0], [4.0, 5.0, 6.0])
    assert r.rank_test.p_value == pytest.approx(sps.mannwhitneyu([1, 2, 3], [4, 5, 6], method="exact").pvalue)
    assert r.rank_test.smallest_possible_p == pytest.approx(2 / math.comb(6, 3))  # 0.1
    assert "Mann-Whitney" in r.rank_test.test and "cannot reach 5%" in r.rank_test.note


def test_a_clear_difference_is_reported_with_its_test_and_sizes():
    r = compare_two([2.50, 2.52, 2.48, 2.51], [2.90, 2.92, 2.88, 2.91], labels=("ShakeDrop", "baseline"))
    assert r.welch.p_value < 0.001
    assert r.verdict.startswith("ShakeDrop's mean is 0.40 lower than baseline's")
    assert "Welch's t-test p = " in r.verdict and "n = 4 and 4" in r.verdict


def test_no_detected_difference_never_claims_the_groups_are_the_same():
    r = compare_two([2.86, 2.98, 2.79], [2.98, 2.90, 3.05])
    assert r.welch.p_value > 0.05
    assert r.verdict.startswith("no difference detected at n = 3 and 3 (Welch's t-test p = ")
    assert "not ruled out" in r.verdict and "same" not in r.verdict and "equal" not in r.verdict


def test_groups_without_spread_get_no_t_test():
    r = compare_two([2.5, 2.5], [2.7, 2.7])
    assert r.welch is None and r.difference.ci95 is None and "no t-test is possible" in r.verdict
    assert r.difference.estimate == pytest.approx(-0.2)


def test_a_test_needs_two_values_a_side():
    with pytest.raises(ValueError):
        compare_two([2.5], [2.6, 2.7])


# ------------------------------------------------------------------------------------------- seeds needed

def test_sigma_and_delta_0_1_need_17_seeds_a_group():
    need = seeds_needed(sigma=0.1, delta=0.1, alpha=0.05, power=0.8)
    assert need.per_group == 17 and need.achieved_power >= 0.8
    assert power_two_sample(16, 1.0, 0.05) < 0.8  # 16 is not enough


@pytest.mark.parametrize(("effect", "n"), [(0.5, 64), (0.8, 26), (1.0, 17)])
def test_sample_sizes_match_cohens_table(effect, n):
    assert seeds_needed(sigma=1.0, delta=effect).per_group == n


def test_the_power_matches_a_simulation_of_the_t_test():
    rng = np.random.default_rng(0)
    a = rng.normal(0.0, 1.0, size=(20000, 10))
    b = rng.normal(1.0, 1.0, size=(20000, 10))
    simulated = np.mean(sps.ttest_ind(a, b, axis=1).pvalue < 0.05)
    assert power_two_sample(10, 1.0, 0.05) == pytest.approx(simulated, abs=0.015)


def test_the_issues_example_needs_14_seeds_at_sigma_0_09():
    need = seeds_needed(sigma=0.09, delta=0.1)
    assert need.per_group == 14 and need.sentence.startswith("to tell 0.1 apart at σ 0.09 you need 14 seeds")


@pytest.mark.parametrize("bad", [dict(delta=0.0), dict(delta=-1.0), dict(sigma=0.0), dict(power=1.0),
                                 dict(power=0.0), dict(alpha=1.5)])
def test_impossible_plans_are_refused(bad):
    with pytest.raises(ValueError):
        seeds_needed(**{"sigma": 0.1, "delta": 0.1, **bad})


def test_the_pooled_sigma_weights_groups_by_their_degrees_of_freedom():
    a, b = [1.0, 1.2, 1.4], [2.0, 2.5]
    sigma, df, used = pooled_sigma([(3, statistics.stdev(a)), (2, statistics.stdev(b)), (1, None)])
    ss = sum((x - statistics.fmean(a)) ** 2 for x in a) + sum((x - statistics.fmean(b)) ** 2 for x in b)
    assert (df, used) == (3, 2) and sigma == pytest.approx(math.sqrt(ss / 3))
    assert pooled_sigma([(1, None)]) is None


def test_a_huge_effect_needs_the_minimum_of_two_seeds_with_full_power():
    need = seeds_needed(sigma=1e-300, delta=1e300)
    assert need.per_group == 2 and need.achieved_power == 1.0
