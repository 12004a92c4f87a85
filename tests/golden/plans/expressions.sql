SELECT status, sum(amount) / count(*) AS mean, upper(status) AS up, count(*) FILTER (WHERE amount > 10) AS big FROM orders GROUP BY status -- a trailing comment
