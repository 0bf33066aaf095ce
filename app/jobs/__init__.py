"""Background jobs, on Huey (an existing engine, not a queue of our own).

- queue.py: the app's Huey (a SQLite file by default, Redis with a redis:// URL,
  immediate in tests), every task registered so that each run is recorded in
  the jobs table, and jobs sent only once the transaction that submitted them
  commits.
- tasks.py: the tasks: plain functions that call services with plain values.
- consumer.py: running them: `flask worker` (production, and `make run`), or a
  consumer thread (tests).

Services submit work with app.services.jobs.submit(name, *args).
"""
