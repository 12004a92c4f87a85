SELECT "__d".s, count(*) AS n, count("__d"."__summa_seq") AS matched FROM hostile_keyed f LEFT JOIN hostile_keyed "__d" ON "__d"."__summa_input" = f.i GROUP BY 1
