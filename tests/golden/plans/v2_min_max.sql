SELECT date_trunc('day', created_at) AS day, status, count(*), sum(amount), min(amount), max(amount) FROM orders GROUP BY 1, 2
