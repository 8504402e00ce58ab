"""A/B statistics over per-variant sums, with the user as the unit of analysis.

Every test reads only sums over a variant's exposed users (spark_jobs/experiment_report.py computes them in
Spark; the simulation tests compute them with numpy), so no per-user data reaches the driver:

    users           exposed users n
    converted       users who bought a recommended item within the attribution window
    impressions, impressions_sq, clicks, clicks_sq, clicks_impressions     per-user counts and products
    revenue, revenue_sq                                                     attributed revenue per user

- conversion (a user rate): the two-proportion z-test (pooled p-value, unpooled 95% interval);
- revenue per exposed user (a per-user mean): Welch's t-test;
- CTR (clicks / impressions, a ratio of per-user sums): the delta method, then a z-test;
- relative differences: the delta method on treatment / control;
- the sample-ratio mismatch: a chi-square goodness-of-fit test of exposed users against the configured
  shares; below `srm_alpha` the whole experiment is marked untrustworthy;
- the minimum detectable effect at the current sample size and the users needed per variant for a
  planned lift, both at `alpha` (two-sided) and `power`.
"""

from __future__ import annotations

import math

from scipy import stats

SUMS = ("users", "converted", "impressions", "impressions_sq", "clicks", "clicks_sq", "clicks_impressions",
        "revenue", "revenue_sq")


def _z(alpha: float) -> float:
    return float(stats.norm.ppf(1 - alpha / 2))


def _relative(control: float, treatment: float, var_c: float, var_t: float, z: float) -> tuple[float, float, float]:
    """treatment / control - 1 and its interval, by the delta method on the ratio of two independent estimates."""
    if control == 0:
        return math.nan, math.nan, math.nan
    ratio = treatment / control
    se = math.sqrt(var_t / control ** 2 + treatment ** 2 * var_c / control ** 4)
    return ratio - 1, ratio - 1 - z * se, ratio - 1 + z * se


def _result(control, treatment, var_c, var_t, p_value, half_width, z) -> dict:
    diff = treatment - control
    rel, rel_low, rel_high = _relative(control, treatment, var_c, var_t, z)
    return {"control": control, "treatment": treatment, "diff": diff, "diff_low": diff - half_width,
            "diff_high": diff + half_width, "relative": rel, "relative_low": rel_low, "relative_high": rel_high,
            "p_value": p_value}


def two_proportions(x_c: float, n_c: float, x_t: float, n_t: float, alpha: float = 0.05) -> dict:
    """Two-proportion z-test of x_t / n_t against x_c / n_c."""
    if min(n_c, n_t) < 1:
        raise ValueError(f"two_proportions needs users in both variants, got {n_c} and {n_t}")
    p_c, p_t = x_c / n_c, x_t / n_t
    pooled = (x_c + x_t) / (n_c + n_t)
    se_pooled = math.sqrt(pooled * (1 - pooled) * (1 / n_c + 1 / n_t))
    p_value = 1.0 if se_pooled == 0 else float(2 * stats.norm.sf(abs(p_t - p_c) / se_pooled))
    var_c, var_t = p_c * (1 - p_c) / n_c, p_t * (1 - p_t) / n_t
    z = _z(alpha)
    return _result(p_c, p_t, var_c, var_t, p_value, z * math.sqrt(var_c + var_t), z)


def _mean_var(total: float, total_sq: float, n: float) -> tuple[float, float]:
    mean = total / n
    var = max(total_sq - n * mean * mean, 0.0) / (n - 1) if n > 1 else 0.0
    return mean, var


def welch(sum_c: float, sq_c: float, n_c: float, sum_t: float, sq_t: float, n_t: float, alpha: float = 0.05) -> dict:
    """Welch's t-test of the per-user means, from each variant's sum and sum of squares."""
    if min(n_c, n_t) < 2:
        raise ValueError(f"welch needs at least 2 users per variant, got {n_c} and {n_t}")
    m_c, v_c = _mean_var(sum_c, sq_c, n_c)
    m_t, v_t = _mean_var(sum_t, sq_t, n_t)
    a, b = v_c / n_c, v_t / n_t
    se = math.sqrt(a + b)
    if se == 0:
        return _result(m_c, m_t, a, b, 1.0 if m_c == m_t else 0.0, 0.0, _z(alpha))
    df = (a + b) ** 2 / (a * a / (n_c - 1) + b * b / (n_t - 1))
    p_value = float(2 * stats.t.sf(abs(m_t - m_c) / se, df))
    return _result(m_c, m_t, a, b, p_value, float(stats.t.ppf(1 - alpha / 2, df)) * se, _z(alpha))


def _ratio_var(sx, sxx, sy, syy, sxy, n) -> tuple[float, float]:
    """sum(x) / sum(y) over users and its variance by the delta method."""
    if sy == 0:
        return math.nan, math.nan
    mx, my = sx / n, sy / n
    vx = (sxx - n * mx * mx) / max(n - 1, 1)
    vy = (syy - n * my * my) / max(n - 1, 1)
    cxy = (sxy - n * mx * my) / max(n - 1, 1)
    r = mx / my
    return r, max(vx - 2 * r * cxy + r * r * vy, 0.0) / (n * my * my)


def ratio(control: dict, treatment: dict, num: str, den: str, alpha: float = 0.05) -> dict:
    """A ratio of per-user sums (e.g. clicks / impressions): the delta method, then a z-test."""
    cross = f"{num}_{den}"
    r_c, v_c = _ratio_var(control[num], control[f"{num}_sq"], control[den], control[f"{den}_sq"], control[cross],
                          control["users"])
    r_t, v_t = _ratio_var(treatment[num], treatment[f"{num}_sq"], treatment[den], treatment[f"{den}_sq"],
                          treatment[cross], treatment["users"])
    se = math.sqrt(v_c + v_t) if not math.isnan(v_c + v_t) else math.nan
    if not se or math.isnan(se):
        p_value = math.nan if math.isnan(se) else (1.0 if r_c == r_t else 0.0)
        return _result(r_c, r_t, v_c, v_t, p_value, 0.0 if se == 0 else math.nan, _z(alpha))
    z = _z(alpha)
    return _result(r_c, r_t, v_c, v_t, float(2 * stats.norm.sf(abs(r_t - r_c) / se)), z * se, z)


def sample_ratio_mismatch(users: dict[str, float], shares: dict[str, float], alpha: float = 0.001) -> dict:
    """Chi-square test of exposed users per variant against the configured shares."""
    total = sum(users.get(v, 0) for v in shares)
    if total == 0:
        return {"chi2": 0.0, "p_value": 1.0, "mismatch": False, "observed": {}, "expected_share": shares}
    observed = [users.get(v, 0) for v in shares]
    expected = [total * shares[v] for v in shares]
    chi2, p_value = stats.chisquare(observed, expected)
    return {"chi2": float(chi2), "p_value": float(p_value), "mismatch": bool(p_value < alpha),
            "observed": dict(zip(shares, observed)), "expected_share": dict(shares)}


def proportion_mde(p: float, n_c: float, n_t: float, alpha: float = 0.05, power: float = 0.8) -> float:
    """The smallest absolute difference from rate p that the z-test detects with `power` at these sizes."""
    if min(n_c, n_t) < 1:
        return math.nan
    return (_z(alpha) + float(stats.norm.ppf(power))) * math.sqrt(p * (1 - p) * (1 / n_c + 1 / n_t))


def mean_mde(var_c: float, var_t: float, n_c: float, n_t: float, alpha: float = 0.05, power: float = 0.8) -> float:
    if min(n_c, n_t) < 2:
        return math.nan
    return (_z(alpha) + float(stats.norm.ppf(power))) * math.sqrt(var_c / n_c + var_t / n_t)


def users_needed(p: float, relative_lift: float, alpha: float = 0.05, power: float = 0.8) -> int:
    """Users per variant for the two-proportion z-test to detect p -> p * (1 + relative_lift) with `power`."""
    if not 0 < p < 1 or relative_lift == 0:
        raise ValueError(f"users_needed: a rate in (0, 1) and a non-zero lift, got {p} and {relative_lift}")
    q = p * (1 + relative_lift)
    mean = (p + q) / 2
    top = _z(alpha) * math.sqrt(2 * mean * (1 - mean)) + float(stats.norm.ppf(power)) * math.sqrt(
        p * (1 - p) + q * (1 - q))
    return math.ceil(top * top / (q - p) ** 2)


def compare(control: dict, treatment: dict, alpha: float = 0.05, power: float = 0.8) -> dict:
    """Every metric of treatment against control (each a dict of SUMS), with its interval, p-value and MDE."""
    n_c, n_t = control["users"], treatment["users"]
    out = {"conversion": two_proportions(control["converted"], n_c, treatment["converted"], n_t, alpha),
           "ctr": ratio(control, treatment, "clicks", "impressions", alpha),
           "revenue_per_user": welch(control["revenue"], control["revenue_sq"], n_c,
                                     treatment["revenue"], treatment["revenue_sq"], n_t, alpha)}
    p_c = out["conversion"]["control"]
    out["conversion"]["mde"] = proportion_mde(p_c, n_c, n_t, alpha, power)
    out["conversion"]["mde_relative"] = out["conversion"]["mde"] / p_c if p_c else math.nan
    _, v_c = _mean_var(control["revenue"], control["revenue_sq"], n_c)
    _, v_t = _mean_var(treatment["revenue"], treatment["revenue_sq"], n_t)
    out["revenue_per_user"]["mde"] = mean_mde(v_c, v_t, n_c, n_t, alpha, power)
    for result in out.values():
        result["significant"] = bool(result["p_value"] < alpha) if not math.isnan(result["p_value"]) else False
    return out


def summary(sums: dict) -> dict:
    """A variant's own figures: exposed users, impressions, clicks, CTR, conversion, revenue per exposed user."""
    n = sums["users"]
    return {"users": int(n), "impressions": int(sums["impressions"]), "clicks": int(sums["clicks"]),
            "ctr": sums["clicks"] / sums["impressions"] if sums["impressions"] else math.nan,
            "conversion": sums["converted"] / n if n else math.nan,
            "revenue_per_user": sums["revenue"] / n if n else math.nan}


def analyse(sums: dict[str, dict], shares: dict[str, float], control: str, alpha: float = 0.05,
            power: float = 0.8, srm_alpha: float = 0.001, planned_lift: float = 0.1) -> dict:
    """The experiment's report from each variant's sums: figures, comparisons against control, SRM, sizes.

    A failed SRM test marks the experiment untrustworthy: its comparisons are still computed, but a reader
    (and report.md) is told not to act on them.
    """
    if control not in shares:
        raise ValueError(f"control variant {control!r} is not one of the experiment's variants {sorted(shares)}")
    empty = dict.fromkeys(SUMS, 0.0)
    sums = {v: {**empty, **sums.get(v, {})} for v in shares}
    srm = sample_ratio_mismatch({v: sums[v]["users"] for v in shares}, shares, srm_alpha)
    comparisons = {}
    for variant in shares:
        if variant != control and min(sums[variant]["users"], sums[control]["users"]) >= 2:
            comparisons[variant] = compare(sums[control], sums[variant], alpha, power)
    base = sums[control]["converted"] / sums[control]["users"] if sums[control]["users"] else 0.0
    needed = users_needed(base, planned_lift, alpha, power) if 0 < base < 1 else None
    return {"control": control, "alpha": alpha, "power": power, "srm": srm, "trustworthy": not srm["mismatch"],
            "variants": {v: summary(sums[v]) for v in shares}, "comparisons": comparisons,
            "planned_lift": planned_lift, "users_needed_per_variant": needed}
