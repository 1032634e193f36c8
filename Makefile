# GEKO developer commands. `make run` and `make test` are the README's quick start.
.PHONY: run test bootstrap proto schema lint fmt lock

VENV := .venv
BIN := $(VENV)/bin

run: bootstrap
	$(BIN)/geko up

test:
	bash scripts/test.sh

bootstrap:
	bash scripts/bootstrap.sh

proto: bootstrap
	$(BIN)/python scripts/gen_proto.py

schema: bootstrap
	$(BIN)/python scripts/export_schema.py

lint: bootstrap
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/buf lint
	$(BIN)/lint-imports
	$(BIN)/mypy services graphql_gateway db scripts

fmt: bootstrap
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

lock: bootstrap
	$(BIN)/uv pip compile pyproject.toml --extra dev --generate-hashes --python-version 3.11 \
		--python-platform x86_64-unknown-linux-gnu -o requirements.lock
