SELECT r.name, o.status, o.amount * 2 AS doubled FROM orders o LEFT JOIN regions r ON r.id = o.region_id WHERE o.amount > 5
