# The two commands a newcomer needs:
#   make run    install everything (first time) and start the kiosk on https://localhost:8443
#   make test   install everything (first time) and run the test suite
.PHONY: setup system-deps run test reliability bench bench-import evaluate clean-venv

setup:
	scripts/setup.sh

system-deps:
	scripts/system-deps.sh

run: setup
	scripts/run_server.sh

test: setup system-deps
	.venv/bin/pytest -m "not reliability"

reliability: setup system-deps
	.venv/bin/pytest -m reliability -s

bench: setup
	.venv/bin/kiosk bench
	.venv/bin/python benchmarks/browser_checkin.py

bench-import: setup
	.venv/bin/python training/bench_import.py

evaluate: setup
	.venv/bin/python training/evaluate_faces.py

clean-venv:
	rm -rf .venv
