# Two commands work on a fresh machine: `make demo` and `make test`. Both set up first.
SHELL := /bin/bash

.PHONY: setup test demo bench lint clean

setup:
	bash scripts/setup.sh

test: setup
	bash scripts/run_tests.sh

demo: setup
	bash scripts/demo.sh

lint: setup
	source scripts/env.sh && ruff check .

bench: setup
	source scripts/env.sh && python bench/bench_model.py && python bench/bench_tracker.py

clean:
	rm -rf build install log demo_out
