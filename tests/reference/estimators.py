"""Reference values for quantile intervals, McNemar, multiplicity, chi-square and ICC.

Produced with scipy 1.17.1 and statsmodels 0.15.0; each constant follows the command that
printed it (R is not installed here and CRAN is unreachable, so these libraries are the reference).
"""

# Latency samples: rng = numpy.random.default_rng(0); x = rng.lognormal(7, .5, n).round(1), with ties
# forced by rounding to 10 ms for the "ties" sample.
SAMPLES: dict[str, list[float]] = {
    "n60": [1167.8, 1026.5, 1510.5, 1155.7, 839.0, 1314.0, 2104.9, 1760.8, 771.3, 582.5, 803.0, 1119.5, 342.9, 983.0, 588.2, 760.4, 835.4, 936.2, 1347.2, 1846.9, 1028.4, 2171.6, 786.4, 1307.3, 1722.8, 1149.4, 756.2, 691.7, 872.3, 1224.3, 662.0, 987.7, 1012.7, 1437.2, 1220.9, 1309.9, 790.8, 1027.8, 1622.9, 2314.0, 584.3, 2337.8, 2149.4, 1620.8, 1251.7, 937.3, 2273.4, 2922.3, 2699.5, 2116.6, 1311.2, 599.3, 1094.2, 1522.7, 575.8, 1336.2, 1359.6, 1553.1, 606.6, 787.7],
    "n300": [881.6, 611.0, 2616.7, 855.8, 1292.7, 963.6, 2420.5, 2122.1, 1505.2, 364.4, 1125.5, 1543.6, 1811.6, 805.2, 2727.1, 566.7, 787.8, 1750.3, 1123.9, 2984.5, 1205.0, 799.0, 908.0, 635.5, 578.9, 1503.0, 1466.4, 2094.9, 752.0, 2551.8, 949.9, 2409.6, 883.2, 759.2, 1242.5, 1836.7, 1188.6, 818.3, 560.8, 544.2, 1410.0, 1798.8, 1010.1, 640.9, 1696.8, 578.1, 767.8, 1495.9, 356.0, 1330.3, 819.9, 1158.2, 1055.9, 1213.2, 1551.7, 750.6, 2231.6, 1576.6, 1672.2, 1963.4, 1625.9, 1672.4, 1138.9, 537.3, 1025.0, 746.4, 538.4, 1247.9, 825.3, 655.3, 651.0, 1254.1, 1312.0, 2124.4, 1089.0, 1846.3, 2210.9, 1949.0, 336.1, 2027.1, 1299.6, 1355.4, 1320.3, 1327.9, 1286.5, 916.5, 423.8, 1038.5, 733.7, 1882.0, 949.2, 1143.4, 717.1, 849.5, 1090.3, 521.8, 1274.5, 1040.0, 606.2, 330.6, 1417.3, 945.0, 841.3, 974.5, 2719.6, 1069.7, 1145.2, 521.4, 2499.1, 1735.0, 1869.6, 1123.1, 1734.2, 1320.1, 1490.1, 1016.3, 524.8, 1834.3, 416.8, 972.7, 990.0, 651.0, 1490.0, 992.1, 881.4, 1422.1, 864.1, 2196.2, 1307.3, 865.1, 414.8, 570.3, 1888.3, 1069.2, 951.9, 2494.0, 577.5, 818.3, 865.8, 1470.2, 787.0, 807.0, 491.5, 1579.2, 1641.0, 864.2, 1190.0, 574.6, 866.2, 2184.1, 1173.6, 3481.4, 739.8, 1465.8, 994.5, 1455.2, 1092.7, 828.3, 710.7, 5079.8, 1055.0, 400.1, 792.9, 1539.2, 854.1, 2165.1, 1810.2, 1016.2, 866.0, 663.5, 772.8, 525.0, 2002.6, 2429.3, 585.2, 607.4, 452.9, 677.3, 232.0, 619.5, 2097.4, 922.6, 1681.2, 858.8, 2644.8, 1211.5, 906.0, 3929.3, 932.4, 595.5, 1213.1, 1075.5, 1869.0, 691.7, 1639.8, 1679.7, 785.4, 1189.9, 723.9, 3543.6, 771.2, 874.3, 643.6, 922.4, 1093.4, 1609.8, 808.2, 999.4, 540.1, 725.1, 4349.9, 1845.7, 742.0, 561.9, 673.3, 1084.8, 1115.8, 755.8, 576.3, 2233.2, 1374.5, 909.3, 982.1, 841.5, 252.6, 1161.9, 642.1, 664.2, 796.2, 1581.5, 610.8, 535.3, 1510.1, 1599.1, 678.9, 1452.7, 947.8, 1274.9, 583.8, 1663.1, 2001.5, 1508.0, 1449.8, 166.3, 1249.3, 1082.8, 1018.9, 800.1, 1127.4, 1347.6, 961.1, 869.9, 2028.1, 631.0, 1835.5, 1198.0, 733.5, 948.6, 692.3, 1536.9, 1305.0, 830.1, 632.0, 1275.2, 1769.9, 1036.0, 1351.8, 908.7, 1134.3, 948.0, 1270.3, 515.5, 1513.4, 977.5, 1312.0, 925.0, 1287.1, 641.4, 1987.4, 467.9, 652.2, 1233.8, 2278.8, 1260.2, 968.8, 537.8, 996.6, 1085.8, 2553.7, 1496.8, 510.5, 3021.1, 900.1, 706.5, 2292.5, 1069.7, 912.6, 1223.4, 1673.1, 1802.0],
    "n20": [551.4, 2978.7, 1760.6, 907.2, 728.3, 675.5, 1166.4, 793.1, 748.1, 1645.2, 1315.9, 900.3, 1583.1, 2172.6, 634.4, 811.1, 1756.9, 1571.0, 1228.3, 1961.0],
    "ties": [640.0, 520.0, 710.0, 1170.0, 740.0, 860.0, 670.0, 800.0, 660.0, 1320.0, 1630.0, 860.0, 990.0, 820.0, 1430.0, 1150.0, 2430.0, 630.0, 1310.0, 1370.0, 920.0, 1470.0, 530.0, 3160.0, 560.0, 1740.0, 630.0, 1950.0, 900.0, 1190.0, 1130.0, 1900.0, 930.0, 250.0, 750.0, 1200.0, 880.0, 1610.0, 1820.0, 1020.0, 520.0, 2190.0, 1880.0, 940.0, 3150.0, 920.0, 620.0, 1010.0, 1880.0, 690.0, 2910.0, 700.0, 1770.0, 1440.0, 1020.0, 1880.0, 520.0, 2160.0, 1060.0, 840.0, 1590.0, 1860.0, 1610.0, 2980.0, 1880.0, 2080.0, 840.0, 1160.0, 1450.0, 1090.0, 1280.0, 1360.0, 1670.0, 1040.0, 920.0, 720.0, 700.0, 1970.0, 1050.0, 1630.0],
}

# Key (sample, q, alternative) -> (low, high); nan where scipy reports no bound.
NAN, INF = float("nan"), float("inf")
QUANTILE_TEST_CI: dict[tuple[str, float, str], tuple[float, float]] = {}
# >>> stats.quantile_test(SAMPLES["n60"], q=0, p=0.5, alternative="two-sided").confidence_interval(0.95)
# ConfidenceInterval(low=np.float64(983.0), high=np.float64(1314.0))
QUANTILE_TEST_CI[("n60", 0.5, "two-sided")] = (983.0, 1314.0)
# >>> stats.quantile_test(SAMPLES["n60"], q=0, p=0.5, alternative="greater").confidence_interval(0.95)
# ConfidenceInterval(low=np.float64(1012.7), high=inf)
QUANTILE_TEST_CI[("n60", 0.5, "greater")] = (1012.7, INF)
# >>> stats.quantile_test(SAMPLES["n60"], q=0, p=0.5, alternative="less").confidence_interval(0.95)
# ConfidenceInterval(low=-inf, high=np.float64(1309.9))
QUANTILE_TEST_CI[("n60", 0.5, "less")] = (-INF, 1309.9)
# >>> stats.quantile_test(SAMPLES["n60"], q=0, p=0.95, alternative="two-sided").confidence_interval(0.95)
# ConfidenceInterval(low=np.float64(2116.6), high=nan)
QUANTILE_TEST_CI[("n60", 0.95, "two-sided")] = (2116.6, NAN)
# >>> stats.quantile_test(SAMPLES["n60"], q=0, p=0.95, alternative="greater").confidence_interval(0.95)
# ConfidenceInterval(low=np.float64(2149.4), high=inf)
QUANTILE_TEST_CI[("n60", 0.95, "greater")] = (2149.4, INF)
# >>> stats.quantile_test(SAMPLES["n60"], q=0, p=0.95, alternative="less").confidence_interval(0.95)
# ConfidenceInterval(low=-inf, high=np.float64(2922.3))
QUANTILE_TEST_CI[("n60", 0.95, "less")] = (-INF, 2922.3)
# >>> stats.quantile_test(SAMPLES["n300"], q=0, p=0.5, alternative="two-sided").confidence_interval(0.95)
# ConfidenceInterval(low=np.float64(972.7), high=np.float64(1134.3))
QUANTILE_TEST_CI[("n300", 0.5, "two-sided")] = (972.7, 1134.3)
# >>> stats.quantile_test(SAMPLES["n300"], q=0, p=0.5, alternative="greater").confidence_interval(0.95)
# ConfidenceInterval(low=np.float64(982.1), high=inf)
QUANTILE_TEST_CI[("n300", 0.5, "greater")] = (982.1, INF)
# >>> stats.quantile_test(SAMPLES["n300"], q=0, p=0.5, alternative="less").confidence_interval(0.95)
# ConfidenceInterval(low=-inf, high=np.float64(1123.9))
QUANTILE_TEST_CI[("n300", 0.5, "less")] = (-INF, 1123.9)
# >>> stats.quantile_test(SAMPLES["n300"], q=0, p=0.95, alternative="two-sided").confidence_interval(0.95)
# ConfidenceInterval(low=np.float64(2196.2), high=np.float64(2727.1))
QUANTILE_TEST_CI[("n300", 0.95, "two-sided")] = (2196.2, 2727.1)
# >>> stats.quantile_test(SAMPLES["n300"], q=0, p=0.95, alternative="greater").confidence_interval(0.95)
# ConfidenceInterval(low=np.float64(2231.6), high=inf)
QUANTILE_TEST_CI[("n300", 0.95, "greater")] = (2231.6, INF)
# >>> stats.quantile_test(SAMPLES["n300"], q=0, p=0.95, alternative="less").confidence_interval(0.95)
# ConfidenceInterval(low=-inf, high=np.float64(2719.6))
QUANTILE_TEST_CI[("n300", 0.95, "less")] = (-INF, 2719.6)
# >>> stats.quantile_test(SAMPLES["n20"], q=0, p=0.5, alternative="two-sided").confidence_interval(0.95)
# ConfidenceInterval(low=np.float64(793.1), high=np.float64(1645.2))
QUANTILE_TEST_CI[("n20", 0.5, "two-sided")] = (793.1, 1645.2)
# >>> stats.quantile_test(SAMPLES["n20"], q=0, p=0.5, alternative="greater").confidence_interval(0.95)
# ConfidenceInterval(low=np.float64(793.1), high=inf)
QUANTILE_TEST_CI[("n20", 0.5, "greater")] = (793.1, INF)
# >>> stats.quantile_test(SAMPLES["n20"], q=0, p=0.5, alternative="less").confidence_interval(0.95)
# ConfidenceInterval(low=-inf, high=np.float64(1645.2))
QUANTILE_TEST_CI[("n20", 0.5, "less")] = (-INF, 1645.2)
# >>> stats.quantile_test(SAMPLES["n20"], q=0, p=0.95, alternative="two-sided").confidence_interval(0.95)
# ConfidenceInterval(low=np.float64(1760.6), high=nan)
QUANTILE_TEST_CI[("n20", 0.95, "two-sided")] = (1760.6, NAN)
# >>> stats.quantile_test(SAMPLES["n20"], q=0, p=0.95, alternative="greater").confidence_interval(0.95)
# ConfidenceInterval(low=np.float64(1760.6), high=inf)
QUANTILE_TEST_CI[("n20", 0.95, "greater")] = (1760.6, INF)
# >>> stats.quantile_test(SAMPLES["n20"], q=0, p=0.95, alternative="less").confidence_interval(0.95)
# ConfidenceInterval(low=-inf, high=nan)
QUANTILE_TEST_CI[("n20", 0.95, "less")] = (-INF, NAN)
# >>> stats.quantile_test(SAMPLES["ties"], q=0, p=0.5, alternative="two-sided").confidence_interval(0.95)
# ConfidenceInterval(low=np.float64(930.0), high=np.float64(1360.0))
QUANTILE_TEST_CI[("ties", 0.5, "two-sided")] = (930.0, 1360.0)
# >>> stats.quantile_test(SAMPLES["ties"], q=0, p=0.5, alternative="greater").confidence_interval(0.95)
# ConfidenceInterval(low=np.float64(990.0), high=inf)
QUANTILE_TEST_CI[("ties", 0.5, "greater")] = (990.0, INF)
# >>> stats.quantile_test(SAMPLES["ties"], q=0, p=0.5, alternative="less").confidence_interval(0.95)
# ConfidenceInterval(low=-inf, high=np.float64(1310.0))
QUANTILE_TEST_CI[("ties", 0.5, "less")] = (-INF, 1310.0)
# >>> stats.quantile_test(SAMPLES["ties"], q=0, p=0.95, alternative="two-sided").confidence_interval(0.95)
# ConfidenceInterval(low=np.float64(1970.0), high=np.float64(3160.0))
QUANTILE_TEST_CI[("ties", 0.95, "two-sided")] = (1970.0, 3160.0)
# >>> stats.quantile_test(SAMPLES["ties"], q=0, p=0.95, alternative="greater").confidence_interval(0.95)
# ConfidenceInterval(low=np.float64(2080.0), high=inf)
QUANTILE_TEST_CI[("ties", 0.95, "greater")] = (2080.0, INF)
# >>> stats.quantile_test(SAMPLES["ties"], q=0, p=0.95, alternative="less").confidence_interval(0.95)
# ConfidenceInterval(low=-inf, high=np.float64(3160.0))
QUANTILE_TEST_CI[("ties", 0.95, "less")] = (-INF, 3160.0)

# Exact McNemar on 2x2 tables [[both right, a right b wrong], [a wrong b right, both wrong]].
MCNEMAR_EXACT: dict[tuple[int, int], float] = {}
# >>> mcnemar(np.array([[20, 5], [9, 20]]), exact=True).pvalue
# np.float64(0.4239501953125)
MCNEMAR_EXACT[(5, 9)] = 0.4239501953125
# >>> mcnemar(np.array([[20, 4], [11, 20]]), exact=True).pvalue
# np.float64(0.11846923828124999)
MCNEMAR_EXACT[(4, 11)] = 0.11846923828124999
# >>> mcnemar(np.array([[20, 0], [0, 20]]), exact=True).pvalue
# np.float64(1.0)
MCNEMAR_EXACT[(0, 0)] = 1.0
# >>> mcnemar(np.array([[20, 0], [6, 20]]), exact=True).pvalue
# np.float64(0.03125)
MCNEMAR_EXACT[(0, 6)] = 0.03125
# >>> mcnemar(np.array([[20, 10], [10, 20]]), exact=True).pvalue
# np.float64(1.0)
MCNEMAR_EXACT[(10, 10)] = 1.0
# >>> mcnemar(np.array([[20, 1], [12, 20]]), exact=True).pvalue
# np.float64(0.00341796875)
MCNEMAR_EXACT[(1, 12)] = 0.00341796875
# >>> mcnemar(np.array([[20, 30], [45, 20]]), exact=True).pvalue
# np.float64(0.10534226887460482)
MCNEMAR_EXACT[(30, 45)] = 0.10534226887460482

PVALUES = [0.01, 0.04, 0.03, 0.2, 0.04]
# >>> multipletests(PVALUES, method="holm")[1]
# array([0.05, 0.12, 0.12, 0.2 , 0.12])
ADJUSTED_HOLM = [0.05, 0.12, 0.12, 0.2, 0.12]
# >>> multipletests(PVALUES, method="bonferroni")[1]
# array([0.05, 0.2 , 0.15, 1.  , 0.2 ])
ADJUSTED_BONFERRONI = [0.05, 0.2, 0.15, 1.0, 0.2]

SRM_OBSERVED = [310, 295, 280, 315]
# >>> stats.chisquare(SRM_OBSERVED)
# Power_divergenceResult(statistic=np.float64(2.5), pvalue=np.float64(0.4752910833430205))
SRM_CHISQUARE = (2.5, 0.4752910833430205)
BALANCE_TABLE = [[50, 48, 52], [50, 55, 45], [50, 47, 53]]
# >>> stats.chi2_contingency(BALANCE_TABLE, correction=False)
# statistic=np.float64(1.5199999999999998), pvalue=np.float64(0.8230929115374404), dof=4
BALANCE_CHI2 = (1.5199999999999998, 0.8230929115374404, 4)

ICC_CASES = [0, 0, 0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 3, 4, 4, 5, 5, 5, 5, 5, 5, 6, 6, 6, 6, 6, 6, 7, 7, 7, 7, 8, 8, 9, 9, 10, 10, 10, 11, 11, 11, 11, 12, 12, 12, 12, 12, 13, 13, 13, 13, 14, 14, 14, 15, 15, 16, 16, 16, 16, 16, 17, 17, 17, 17, 17, 18, 18, 19, 19, 20, 20, 20, 20, 21, 21, 21, 22, 22, 22, 22, 22, 22, 23, 23, 23, 23, 24, 24, 24, 24]
ICC_Y = [1, 0, 0, 0, 0, 1, 0, 0, 1, 0, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 0, 1, 0, 1, 0, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 0, 1, 1, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 0, 1, 1, 0, 1, 0, 0, 0, 0, 1, 1, 1, 1]
# >>> aov = sm.stats.anova_lm(smf.ols("y ~ C(case)", pd.DataFrame({"y": ICC_Y, "case": ICC_CASES})).fit())
# >>> msb, msw = aov["mean_sq"]; n0 = (N - sum(n_i**2) / N) / (k - 1)
# msb=np.float64(0.3718711843711843), msw=np.float64(0.16414141414141417), n0=np.float64(3.6163003663003663)
# >>> (msb - msw) / (msb + (n0 - 1) * msw)
ICC_ANOVA = 0.2592362790536601
