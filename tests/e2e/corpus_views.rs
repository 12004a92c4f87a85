//! The corpus: one view definition over `facts` per shape users write, each with a short
//! name. Every entry must be accepted by the planner and stay equal to its SELECT; the list is
//! the specification of what summa supports, so a refusal fails the corpus test.

pub const VIEWS: &[(&str, &str)] = &[
    // count / sum / avg
    ("cnt_star", "SELECT g, count(*) FROM facts GROUP BY g"),
    (
        "cnt_cols",
        "SELECT g, count(i4) AS c_i4, count(cat) AS c_cat, count(b) AS c_b, count(iv) AS c_iv, count(m) AS c_m FROM facts GROUP BY g",
    ),
    (
        "sum_ints",
        "SELECT cat, sum(i2) AS s2, sum(i4) AS s4, sum(i8) AS s8 FROM facts GROUP BY cat",
    ),
    (
        "sum_nums",
        "SELECT h, sum(n) AS sn, sum(n2) AS sn2, sum(m) AS sm, sum(iv) AS siv FROM facts GROUP BY h",
    ),
    (
        "sum_floats",
        "SELECT code, sum(f4) AS s4, sum(f8) AS s8 FROM facts GROUP BY code",
    ),
    (
        "avg_all",
        "SELECT g, h, avg(i2) AS a2, avg(i4) AS a4, avg(i8) AS a8, avg(n) AS an, avg(n2) AS an2,\n       avg(f4) AS af4, avg(f8) AS af8, avg(iv) AS aiv\nFROM facts\nGROUP BY g, h",
    ),
    // min / max over every ordered type
    (
        "mm_ints",
        "SELECT g, min(i2) AS lo2, max(i2) AS hi2, min(i4) AS lo4, max(i4) AS hi4, min(i8) AS lo8, max(i8) AS hi8 FROM facts GROUP BY g",
    ),
    (
        "mm_nums",
        "SELECT cat, min(n) AS lo_n, max(n) AS hi_n, min(n2) AS lo_n2, max(n2) AS hi_n2, min(m) AS lo_m FROM facts GROUP BY cat",
    ),
    (
        "mm_floats",
        "SELECT h, min(f4) AS lo4, max(f4) AS hi4, min(f8) AS lo8, max(f8) AS hi8 FROM facts GROUP BY h",
    ),
    (
        "mm_text",
        "SELECT g, min(cat) AS lo_cat, max(cat) AS hi_cat FROM facts GROUP BY g",
    ),
    (
        "mm_code_c",
        "SELECT h, min(code) AS lo_code, max(code) AS hi_code FROM facts GROUP BY h",
    ),
    (
        "mm_time",
        "SELECT cat, min(d) AS lo_d, max(d) AS hi_d, min(ts) AS lo_ts, max(ts) AS hi_ts, min(tstz) AS lo_tz, max(tstz) AS hi_tz FROM facts GROUP BY cat",
    ),
    (
        "mm_iv",
        "SELECT code, min(iv) AS lo_iv, max(iv) AS hi_iv FROM facts GROUP BY code",
    ),
    ("mm_single", "SELECT g, max(i4) FROM facts GROUP BY g"),
    (
        "mm_mixed",
        "SELECT g, cat, count(*), sum(i4), min(i4), max(f8) FROM facts GROUP BY g, cat",
    ),
    (
        "mm_key_col",
        "SELECT i2, min(i2) AS lo, max(i2) AS hi, count(*) AS n FROM facts GROUP BY i2",
    ),
    (
        "mm_expr_arg",
        "SELECT g, max(i4 * 2 + i2) AS hi, min(lower(cat)) AS lo_l, sum(n2 * i2) AS sp FROM facts GROUP BY g",
    ),
    // DISTINCT aggregates
    (
        "cd_basic",
        "SELECT g, count(DISTINCT i4) AS d_i4, count(DISTINCT cat) AS d_cat, count(DISTINCT d) AS d_d FROM facts GROUP BY g",
    ),
    (
        "cd_types",
        "SELECT h, count(DISTINCT code) AS d_code, count(DISTINCT n) AS d_n, count(DISTINCT f8) AS d_f8,\n       count(DISTINCT iv) AS d_iv, count(DISTINCT b) AS d_b, count(DISTINCT tstz) AS d_tz\nFROM facts GROUP BY h",
    ),
    (
        "cd_expr",
        "SELECT g, count(DISTINCT i4 % 5) AS d_mod, count(DISTINCT upper(cat)) AS d_up FROM facts GROUP BY g",
    ),
    (
        "sum_distinct",
        "SELECT g, sum(DISTINCT i4) AS sd4, sum(DISTINCT n2) AS sdn2, sum(DISTINCT f8) AS sdf8, avg(DISTINCT i2) AS ad2, avg(DISTINCT n) AS adn FROM facts GROUP BY g",
    ),
    // boolean aggregates
    (
        "bools",
        "SELECT g, bool_and(b) AS all_b, bool_or(b) AS any_b, every(b) AS ev FROM facts GROUP BY g",
    ),
    (
        "bool_expr",
        "SELECT cat, bool_or(i4 > 20) AS big, bool_and(f8 >= 0) AS nonneg FROM facts GROUP BY cat",
    ),
    // statistics over integer, numeric(12,2) and float inputs
    (
        "stats_int",
        "SELECT g, stddev(i4) AS sd, stddev_samp(i2) AS sds, stddev_pop(i8) AS sdp, variance(i4) AS v, var_samp(i2) AS vs, var_pop(i8) AS vp FROM facts GROUP BY g",
    ),
    (
        "stats_num",
        "SELECT h, stddev(n2) AS sd, stddev_samp(n2) AS sds, stddev_pop(n2) AS sdp, variance(n2) AS v, var_samp(n2) AS vs, var_pop(n2) AS vp FROM facts GROUP BY h",
    ),
    (
        "stats_float",
        "SELECT cat, stddev(f8) AS sd, stddev_samp(f4) AS sds, stddev_pop(f8) AS sdp, variance(f4) AS v, var_samp(f8) AS vs, var_pop(f4) AS vp FROM facts GROUP BY cat",
    ),
    // FILTER
    (
        "filt_count",
        "SELECT g, count(*) FILTER (WHERE b) AS n_true, count(*) FILTER (WHERE i4 > 0) AS n_pos, count(*) AS n FROM facts GROUP BY g",
    ),
    (
        "filt_sum",
        "SELECT cat, sum(i4) FILTER (WHERE b IS NOT TRUE) AS s_not_b, avg(n2) FILTER (WHERE h = 1) AS a_h1, sum(f8) FILTER (WHERE code LIKE 'a%') AS s_a FROM facts GROUP BY cat",
    ),
    (
        "filt_minmax",
        "SELECT g, min(i4) FILTER (WHERE b) AS lo_b, max(d) FILTER (WHERE i2 < 0) AS hi_d_neg, max(cat) FILTER (WHERE code <> 'a') AS hi_cat FROM facts GROUP BY g",
    ),
    (
        "filt_distinct",
        "SELECT h, count(DISTINCT cat) FILTER (WHERE i4 > 0) AS d_cat_pos, count(DISTINCT i2) FILTER (WHERE b) AS d_i2_b FROM facts GROUP BY h",
    ),
    // HAVING, over groups small enough that the condition flips as rows come and go
    (
        "hav_count",
        "SELECT g, cat, b, sum(i4) AS s FROM facts GROUP BY g, cat, b HAVING count(*) > 2",
    ),
    (
        "hav_mixed",
        "SELECT cat, h, count(*) FROM facts GROUP BY cat, h\nHAVING sum(i4) IS NOT NULL AND max(d) > '2026-01-17'",
    ),
    (
        "hav_key",
        "SELECT g, h, avg(n2) AS a FROM facts GROUP BY g, h HAVING g IS NOT NULL AND min(i2) < -15",
    ),
    (
        "hav_distinct",
        "SELECT h, g, sum(i8) AS s FROM facts GROUP BY h, g HAVING count(DISTINCT cat) >= 6",
    ),
    (
        "hav_selected",
        "SELECT code, count(*) AS n, sum(n2) AS s FROM facts GROUP BY code HAVING count(*) >= 10 AND sum(n2) > 0",
    ),
    // expressions over aggregates and keys
    (
        "expr_ratio",
        "SELECT g, sum(i4) / count(*) AS ratio, round(avg(n2), 2) AS avg2, coalesce(sum(i4), 0) AS s0 FROM facts GROUP BY g",
    ),
    (
        "expr_span",
        "SELECT cat, max(d) - min(d) AS span_days, max(ts) - min(ts) AS span_ts FROM facts GROUP BY cat",
    ),
    (
        "expr_upper_key",
        "SELECT upper(cat) AS ucat, count(*) AS n FROM facts GROUP BY cat",
    ),
    (
        "expr_key_arith",
        "SELECT g, g * 10 + count(*) AS mix, sum(i2) * 2 AS dbl FROM facts GROUP BY g",
    ),
    (
        "expr_case",
        "SELECT h, CASE WHEN count(*) > 20 THEN 'many' ELSE 'few' END AS size, nullif(max(i4), 0) AS mx,\n       sum(f8) / nullif(count(f8), 0) AS mean8\nFROM facts GROUP BY h",
    ),
    // SELECT DISTINCT
    ("dist_cols", "SELECT DISTINCT g, cat FROM facts"),
    (
        "dist_expr",
        "SELECT DISTINCT date_trunc('day', tstz) AS day, b FROM facts WHERE g IS NOT NULL",
    ),
    (
        "dist_grouped",
        "SELECT DISTINCT g, count(*) FROM facts GROUP BY g",
    ),
    // ORDER BY is accepted and ignored
    (
        "ordered",
        "SELECT cat, g, count(*) AS n, sum(n2) AS s FROM facts GROUP BY cat, g ORDER BY cat, g DESC",
    ),
    // global aggregates: exactly one row, also over an empty table
    (
        "glob_basic",
        "SELECT count(*) AS n, count(i4) AS c4, sum(i8) AS s8, avg(f8) AS a8, sum(m) AS sm FROM facts",
    ),
    (
        "glob_minmax",
        "SELECT min(i4) AS lo4, max(i4) AS hi4, min(cat) AS lo_cat, max(code) AS hi_code, max(tstz) AS hi_tz, min(iv) AS lo_iv FROM facts",
    ),
    (
        "glob_distinct",
        "SELECT count(DISTINCT g) AS d_g, count(DISTINCT code) AS d_code, sum(DISTINCT i2) AS sd2 FROM facts",
    ),
    (
        "glob_stats",
        "SELECT bool_and(b) AS all_b, stddev(i4) AS sd4, var_pop(f8) AS vp8, count(*) FILTER (WHERE b) AS n_b FROM facts",
    ),
    (
        "glob_having",
        "SELECT count(*) AS n, max(n2) AS hi FROM facts HAVING count(*) > 10",
    ),
    // WHERE filters
    (
        "where_basic",
        "SELECT g, count(*), sum(n2) AS s FROM facts WHERE b AND i4 BETWEEN -10 AND 20 GROUP BY g",
    ),
    (
        "where_text",
        "SELECT code, count(*), max(i8) AS hi FROM facts WHERE cat IN ('a', 'B') OR code LIKE 'b%' GROUP BY code",
    ),
    (
        "where_null",
        "SELECT h, avg(f4) AS a, min(ts) AS lo FROM facts\nWHERE d IS NOT NULL AND NOT (i2 > 10)\nGROUP BY h",
    ),
    // expression keys and NULL keys
    (
        "key_day",
        "SELECT date_trunc('day', tstz) AS day, count(*), sum(i4) AS s, max(f8) AS hi FROM facts GROUP BY 1",
    ),
    (
        "key_bucket",
        "SELECT i4 / 10 AS bucket, count(*), min(n2) AS lo FROM facts GROUP BY i4 / 10",
    ),
    (
        "key_hour",
        "SELECT date_trunc('hour', ts) AS hr, b, count(DISTINCT g) AS dg FROM facts GROUP BY 1, 2",
    ),
    (
        "key_extract",
        "SELECT extract(dow FROM d) AS dow, code, sum(m) AS sm, count(*) FROM facts GROUP BY 1, 2",
    ),
    (
        "key_nulls",
        "SELECT g, h, cat, code, b, count(*) FROM facts GROUP BY g, h, cat, code, b",
    ),
    (
        "key_coalesce",
        "SELECT coalesce(cat, '?') AS c, count(*), max(i2) AS hi FROM facts GROUP BY 1",
    ),
    (
        "alias_qual",
        "SELECT f.cat AS c, count(*) AS n, max(f.n) AS hi FROM public.facts f GROUP BY f.cat",
    ),
];
