# The two commands of the README. Both create .venv and install what is needed first.
.PHONY: demo test bootstrap lint

demo: bootstrap
	.venv/bin/offload demo

test:
	scripts/test.sh

bootstrap:
	scripts/bootstrap.sh

lint: bootstrap
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy . && .venv/bin/lint-imports --no-cache
