SELECT r.name, count(*), sum(o.amount) FROM orders o JOIN regions r ON r.id = o.region_id WHERE o.status <> 'cancelled' GROUP BY r.name
