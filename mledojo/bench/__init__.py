"""Batch runs: many (agent, competition, seed) episodes with one command, resumable.

`plan` expands a bench into episode jobs, each a resolved `EpisodeSpec`; `scheduler` runs
them under CPU, memory, worker and start-rate limits on an executor (`--backend local`: one
child process per episode; `ray`: one Ray task per episode); `worker` plays one job;
`bundle` hashes a run's files; `submit` verifies a bundle and re-grades it for the
leaderboard. Importing this package is cheap: nothing here imports Docker, Ray or
scikit-learn at import time.
"""
