"""Reference values for the cluster-robust alternatives: GEE with case clusters, from statsmodels
0.15.0, on the ICC data of ``reference.estimators`` (91 requests in 25 cases).

Each constant follows the command that printed it, run as:
    y = np.array(ICC_Y, float); g = np.array(ICC_CASES)
    fit = sm.GEE(y, np.ones((y.size, 1)), groups=g, family=sm.families.Binomial(),
                 cov_struct=<structure>).fit()
"""

# >>> fit = sm.GEE(..., cov_struct=sm.cov_struct.Exchangeable()).fit(); fit.params[0], fit.bse[0]
# (0.7568812621268998, 0.2938579412383835)
GEE_EXCHANGEABLE = (0.7568812621268998, 0.2938579412383835)

# >>> fit = sm.GEE(..., cov_struct=sm.cov_struct.Independence()).fit(); fit.params[0], fit.bse[0]
# (0.7598385550586171, 0.29294140607109287)
# Independently, in closed form: beta = logit(mean(y)), and the sandwich standard error of an
# intercept-only logistic model is sqrt(sum_i (S_i - n_i p)^2) / (N p (1 - p)) with S_i, n_i the
# sum and count of case i: (0.7598385550586176, 0.2929414060710929).
GEE_INDEPENDENCE = (0.7598385550586171, 0.29294140607109287)

# >>> scipy.stats.norm.isf(0.025)
# 1.959963984540054
Z975 = 1.959963984540054

# Case bootstrap of the one-way ANOVA ICC, by exact enumeration: four cases with unequal replays,
# every one of the 4**4 = 256 equally likely ordered resamples, each copy of a case its own group.
# Computed with scipy 1.17.1 on expanded requests, independently of analysis (F from f_oneway, not
# from per-case sums), run as:
#     groups = [ICC_SMALL_Y[ICC_SMALL_CASES == c] for c in range(4)]
#     def icc(gs):
#         N = sum(len(g) for g in gs); k = len(gs); n0 = (N - sum(len(g)**2 for g in gs) / N) / (k - 1)
#         F = scipy.stats.f_oneway(*gs).statistic       # nan: undefined; inf: MSW = 0, ICC = 1
#         r = 1.0 if np.isinf(F) else (F - 1) / (F + n0 - 1)
#         return r, 1 + (N / k - 1) * r
#     vals = [icc([groups[i] for i in d]) for d in itertools.product(range(4), repeat=4)]
#     ok = [v for v in vals if not np.isnan(v[0])]        # 255: only (1, 1, 1, 1) has no variance
#     np.quantile([v[0] for v in ok], [0.05, 0.95]), np.quantile([v[1] for v in ok], [0.05, 0.95])
ICC_SMALL_CASES = [0, 0, 0, 1, 1, 2, 2, 2, 2, 3, 3, 3]
ICC_SMALL_Y = [1, 1, 0, 0, 0, 1, 1, 1, 0, 1, 0, 1]
# >>> icc(groups)
# (0.02214022140221409, 1.044280442804428)
ICC_SMALL_POINT = (0.02214022140221409, 1.044280442804428)
ICC_SMALL_UNDEFINED = 1
# >>> (quantiles of the ICC), (quantiles of the design effect), level 0.90
# [-0.5, 0.3548387096774195] [0.0, 1.5300559179869526]
ICC_SMALL_INTERVAL_90 = (-0.5, 0.3548387096774195)
DEFF_SMALL_INTERVAL_90 = (0.0, 1.5300559179869526)
