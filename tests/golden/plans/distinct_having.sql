SELECT o.region_id, count(DISTINCT o.customer_id), sum(DISTINCT o.amount), bool_and(o.amount > 0), stddev_samp(o.amount) FROM orders AS o GROUP BY o.region_id HAVING count(*) > 1
