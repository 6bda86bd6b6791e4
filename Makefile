# The two commands a newcomer needs:
#   make run    install everything (first time) and start the kiosk on https://localhost:8443
#               (nginx in front of gunicorn; nginx is installed with apt when it is missing)
#   make test   install everything (first time) and run the test suite
.PHONY: setup system-deps run-deps run lint test test-fast reliability bench bench-import bench-scale first-day evaluate evaluate-liveness clean-venv

setup:
	scripts/setup.sh

system-deps:
	scripts/system-deps.sh

# nginx in front of gunicorn (installed when apt and root or password-less sudo allow; else
# make run serves this machine only and says so).
run-deps:
	scripts/system-deps.sh --run

run: setup run-deps
	scripts/run_server.sh

# Static checks (seconds): ruff on the code, tests and scripts (pyproject.toml [tool.ruff]); mypy strict
# on kiosk/checkin and kiosk/vision (pyproject.toml [tool.mypy]).
lint: setup
	.venv/bin/ruff check kiosk tests training benchmarks
	.venv/bin/mypy

test: setup system-deps
	.venv/bin/pytest -m "not reliability"

# The tests that load no real model (no TensorFlow, MediaPipe, emotion or liveness network): the quick loop.
test-fast: setup system-deps
	.venv/bin/pytest -m "not reliability and not models"

reliability: setup system-deps
	.venv/bin/pytest -m reliability -s

# Then kiosk bench again, the baseline's (BASELINE: a commit or a checkout's folder, default HEAD^)
# and this tree's in turn, side by side (benchmarks/compare_main.py; ROUNDS=3 for medians of three).
# concurrent_models.py: whether several kiosks' frames run at once (one copy of each model vs lanes).
bench: setup
	.venv/bin/kiosk bench
	.venv/bin/python benchmarks/browser_checkin.py
	.venv/bin/python benchmarks/concurrent_models.py
	.venv/bin/python benchmarks/compare_main.py --baseline $(or $(BASELINE),HEAD^) $(if $(ROUNDS),--rounds $(ROUNDS))

# Against older code in the same run (each size imported by both, in turn):
#   git worktree add /tmp/kiosk-old <commit>; make bench-import BASELINE=/tmp/kiosk-old SIZES=1000
bench-import: setup
	.venv/bin/python training/bench_import.py $(if $(BASELINE),--baseline $(BASELINE) --embedders default) $(if $(SIZES),--sizes $(SIZES))

# A site of 1,000 and 10,000 people (synthetic embeddings): training, adding one person, model size,
# identify time, memory per worker; BASELINE as above (PEOPLE=1000,2000 keeps the old code's turn short).
bench-scale: setup
	.venv/bin/python training/bench_people_scale.py $(if $(BASELINE),--baseline $(BASELINE)) $(if $(PEOPLE),--people $(PEOPLE))

# The README's first-day walkthrough in a fresh clone of the committed HEAD, timed from make run to
# the first check-in (installs a whole environment in a temporary folder: several minutes; not in CI).
first-day: setup system-deps
	.venv/bin/python benchmarks/first_day.py $(if $(JSON),--json $(JSON))

evaluate: setup
	.venv/bin/python training/evaluate_faces.py

# Per-frame liveness figures on the committed sample; pass a larger set with
#   make evaluate-liveness LIVENESS_DATA=/tmp/liveness-eval   (training/gather_liveness_images.py makes one)
evaluate-liveness: setup
	.venv/bin/python training/evaluate_liveness.py $(if $(LIVENESS_DATA),--data $(LIVENESS_DATA))

clean-venv:
	rm -rf .venv
