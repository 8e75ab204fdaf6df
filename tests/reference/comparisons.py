"""Reference values for the paired comparisons: the MOVER difference of two case-clustered
proportions computed by hand, and the paired t on case means from scipy.

Produced with scipy 1.17.1 and statsmodels 0.15.0, independently of ``analysis`` (nothing of it
imported). Each constant follows the command that printed it, run after:

    import numpy as np
    from scipy import stats, optimize
    from statsmodels.stats.proportion import proportion_confint
    A = np.array(CORRECT_A) / 5; B = np.array(CORRECT_B) / 5; N = 60   # 12 cases x 5 replays

    def arm(x, level):             # Wilson on the effective n (Korn-Graubard), written out by hand
        k = x.size; p = x.mean()
        nstar = min(max(p * (1 - p) / (x.var(ddof=1) / k), k - 1), N)
        m2 = ((x - p) ** 2).mean(); m4 = ((x - p) ** 4).mean()
        df = 2 * k / (m4 / m2**2 - (k - 3) / (k - 1))
        df = np.floor(np.clip(df, 1, k - 1) * 1000) / 1000
        a = (1 - level) / 2
        z, t = stats.norm.ppf(1 - a), stats.t.ppf(1 - a, df)
        neff = (k - 1) + (nstar - (k - 1)) * (z / t) ** 2
        return (p, *proportion_confint(p * neff, neff, alpha=1 - level, method="wilson"))

    def mover(level):              # Zou & Donner (2008), r the Pearson correlation of the cases
        p1, l1, u1 = arm(A, level); p2, l2, u2 = arm(B, level)
        r = np.corrcoef(A, B)[0, 1]; d = p1 - p2
        L = d - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2 - 2 * r * (p1 - l1) * (u2 - p2))
        U = d + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2 - 2 * r * (u1 - p1) * (p2 - l2))
        return d, L, U
"""

# Correct replays (of 5) per case, arms a and b, the same 12 cases.
CORRECT_A = [5, 4, 3, 5, 2, 4, 5, 1, 3, 4, 5, 0]
CORRECT_B = [4, 4, 2, 5, 1, 2, 5, 2, 3, 3, 4, 1]

# >>> mover(0.95)
# (0.08333333333333326, -0.036081894276744284, 0.17766738837551221)
MOVER_95 = (0.08333333333333326, -0.036081894276744284, 0.17766738837551221)
# >>> mover(0.99)
# (0.08333333333333326, -0.07741042192309122, 0.2089158770216054)
MOVER_99 = (0.08333333333333326, -0.07741042192309122, 0.2089158770216054)
# The p-value: the alpha at which the lower end of the 1 - alpha interval reaches 0.
# >>> optimize.brentq(lambda al: mover(1 - al)[1], 1e-12, 0.999999, xtol=1e-14)
# 0.15742162049368522
MOVER_P = 0.15742162049368522
# Clopper-Pearson on the same effective n: arm() with method="beta", then the same combination.
# (-0.04856340322145081, 0.1885301699160845)
MOVER_CP_95 = (-0.04856340322145081, 0.1885301699160845)
# Unit request: Wilson on each arm's pooled 60 requests; r from the case residuals S_i - p n_i:
# >>> SA, SB, n = A * 5, B * 5, np.full(12, 5.0); ea, eb = SA - SA.sum() / 60 * n, SB - SB.sum() / 60 * n
# >>> r = (ea @ eb) / np.sqrt((ea @ ea) * (eb @ eb)); (l1, u1), (l2, u2) = [proportion_confint(
# ...     s.sum(), 60, alpha=0.05, method="wilson") for s in (SA, SB)]; (then the combination above)
# (0.08333333333333337, 0.015335481426367953, 0.1512472421011066)
MOVER_REQUEST_95 = (0.08333333333333337, 0.015335481426367953, 0.1512472421011066)

# Latencies of 10 cases with unequal replays in each arm:
# rng = np.random.default_rng(4); counts_a = [3, 5, 4, 5, 2, 5, 5, 4, 3, 5]; counts_b = [5, 4, 5, 3, 5, 5, 2, 4, 5, 5]
# LATENCY_A = [list(np.round(rng.lognormal(7, .4, c), 1)) for c in counts_a], then LATENCY_B with 6.9.
LATENCY_A = [
    [845.0, 1022.6, 2133.4],
    [1427.5, 568.8, 1094.4, 854.6, 1163.8],
    [576.4, 1208.0, 1204.9, 2059.6],
    [1244.7, 1345.1, 603.5, 2700.2, 509.7],
    [1704.0, 961.1],
    [771.0, 843.4, 838.1, 1276.8, 1049.4],
    [1984.3, 527.5, 1095.3, 767.5, 1495.7],
    [470.0, 955.8, 1192.8, 605.6],
    [1626.3, 1177.9, 1640.5],
    [1609.5, 741.0, 797.0, 1011.0, 1479.1],
]
LATENCY_B = [
    [1394.6, 747.0, 778.3, 721.2, 785.5],
    [902.2, 941.3, 2260.3, 810.3],
    [884.0, 1192.1, 677.7, 856.2, 997.6],
    [1352.4, 586.2, 1717.4],
    [861.8, 1061.8, 1392.5, 1292.5, 1515.8],
    [1063.5, 984.5, 1126.2, 666.3, 1612.7],
    [727.7, 599.4],
    [2258.7, 939.6, 619.2, 2081.6],
    [869.7, 1517.5, 712.1, 898.3, 505.0],
    [462.4, 671.4, 961.8, 1365.4, 2618.8],
]
# >>> ma = np.array([np.mean(v) for v in LATENCY_A]); mb = np.array([np.mean(v) for v in LATENCY_B])
# >>> res = stats.ttest_rel(ma, mb); (ma - mb).mean(), res.pvalue
# (95.14816666666661, 0.458154225818308)
TTEST_REL = (95.14816666666661, 0.458154225818308)
# >>> res.confidence_interval(0.95), res.confidence_interval(0.99)
# ConfidenceInterval(low=-182.54096302440934, high=372.83729635774256)
# ConfidenceInterval(low=-303.7825610585256, high=494.0788943918588)
TTEST_REL_CI_95 = (-182.54096302440934, 372.83729635774256)
TTEST_REL_CI_99 = (-303.7825610585256, 494.0788943918588)
