"""What every bench script shares: databases and users (database.py), processes and
whole deployments (cluster.py, run.py), and one way to compute and print figures
(stats.py: the nearest-rank percentile). tests/reliability uses the same cluster;
nothing here imports tests/."""
from .cluster import (Cluster, Proc, RedisServer, TcpProxy, Visitor, free_port, grant, make_game, make_users,
                      postgres_url, wait_for)
from .database import DEFAULT_PG_SERVER, bulk_users, drop_database, fresh_database, migrate, plain_dsn
from .run import (Timeout, http_get, http_get_json, raise_nofile, redis_or_private, start_gunicorn, stop_servers,
                  tail, time_limit, wait_serving)
from .stats import host, latency_summary, log, percentile, table

__all__ = ["Cluster", "Proc", "RedisServer", "TcpProxy", "Visitor", "free_port", "grant", "make_game", "make_users",
           "postgres_url", "wait_for", "DEFAULT_PG_SERVER", "bulk_users", "drop_database", "fresh_database",
           "migrate", "plain_dsn", "Timeout", "http_get", "http_get_json", "raise_nofile", "redis_or_private",
           "start_gunicorn", "stop_servers", "tail", "time_limit", "wait_serving", "host", "latency_summary", "log",
           "percentile", "table"]
