SELECT count(*), sum(amount), max(created_at) FROM orders WHERE status <> 'cancelled'
