SELECT a.s, count(*) AS n, sum(b.c0_0), count(DISTINCT b.x) AS xs FROM hostile_keyed a JOIN hostile_keyed b USING ("__summa_input") WHERE a."__summa_sign" > b.i GROUP BY a.s
