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
