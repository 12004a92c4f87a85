SELECT n, tid, c1, count(*) AS n_rows, sum("__s"), min("__summa_sign"), max(g1),
       count(DISTINCT "__v") AS distinct_v,
       sum(e1) FILTER (WHERE "Quoted ""Name""" <> 'x') AS f,
       count(*)::text || ' "__summa_agg_0" ' AS label
FROM hostile WHERE "__src" IS NOT NULL OR "__r" > 0 GROUP BY n, tid, c1
