SELECT customer_id, count(*), sum(amount), avg(amount) FROM orders GROUP BY customer_id
