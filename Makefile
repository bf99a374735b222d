# Everything runs from here: `make` (creates venv/), `make render STACK=dev` and `make test` work
# on a fresh clone.
PYTHON ?= python3
VENV := venv
BIN := $(VENV)/bin
CHECKOV_VENV := .venv-checkov
STACK ?= dev
STACKS := dev prod
K8S_VERSIONS := 1.30.0 1.35.0

.DEFAULT_GOAL := venv
.PHONY: venv render images test lint actionlint unit renders validate checkov prom-tools promcheck capacity readme e2e e2e-down clean

$(BIN)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

# checkov gets a venv of its own: installed beside pulumi, pip backtracks it to an old release.
$(CHECKOV_VENV)/.installed:
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/pip install --quiet "checkov>=3.2.400,<4"
	touch $@

# The project's virtualenv: what `venv/bin/python -m boutique ...` runs in.
venv: $(BIN)/.installed

render: $(BIN)/.installed
	$(BIN)/python -m boutique render --stack $(STACK) --out build/$(STACK)

# Every image the stack runs, one per line (`image  where`): what the pull-request workflow scans.
images: $(BIN)/.installed
	@$(BIN)/python -m boutique images --stack $(STACK)

test: lint actionlint prom-tools unit renders validate checkov promcheck

lint: $(BIN)/.installed
	$(BIN)/ruff check .

# GitHub workflows (.github/): actionlint, with shellcheck on every `run:` script.
actionlint: $(BIN)/.installed
	$(BIN)/actionlint -shellcheck $(BIN)/shellcheck

unit: $(BIN)/.installed
	$(BIN)/python -m pytest -q -n auto tests

renders: $(BIN)/.installed
	@for stack in $(STACKS); do $(BIN)/python -m boutique render --stack $$stack --out build/$$stack || exit 1; done

# Kubernetes schemas, strict (unknown fields are errors). Custom resources have no bundled schema
# and are reported as warnings; core kinds must be clean.
validate: renders
	@for stack in $(STACKS); do for version in $(K8S_VERSIONS); do \
		echo "kubernetes-validate --strict $$version: $$stack"; \
		$(BIN)/kubernetes-validate --strict --quiet --no-warn -k $$version $$(find build/$$stack/manifests -name '*.yaml' | sort) || exit 1; \
	done; done

# Every finding fails the build. Accepted findings live in services.yaml, each with its reason.
checkov: renders $(CHECKOV_VENV)/.installed
	@for stack in $(STACKS); do \
		echo "checkov: $$stack"; \
		BC_SKIP_MAPPING=TRUE $(CHECKOV_VENV)/bin/checkov -d build/$$stack/manifests --framework kubernetes \
			--skip-download --compact --quiet || exit 1; \
	done

# promtool and amtool from Debian/Ubuntu (packages prometheus, prometheus-alertmanager), installed
# when missing; skipped when on PATH. apt-get needs root: through sudo when not root (GitHub's
# runners run as a user with passwordless sudo), directly when root (CI containers).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
prom-tools:
	@if command -v promtool >/dev/null 2>&1 && command -v amtool >/dev/null 2>&1; then :; else \
		if [ -n "$(SUDO)" ] && ! command -v sudo >/dev/null 2>&1; then \
			echo "promtool/amtool missing: install prometheus and prometheus-alertmanager as root (no sudo here)"; exit 1; \
		fi; \
		echo "installing promtool and amtool (apt-get: prometheus, prometheus-alertmanager)"; \
		$(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends prometheus prometheus-alertmanager >/dev/null || exit 1; \
	fi

# Alert rules (from the rendered PrometheusRules), prometheus-adapter's query as a recording rule,
# and the Alertmanager configuration the program produces: promtool check/test rules, amtool
# check-config. The unit tests are written for prod.
promcheck: renders prom-tools
	@for stack in $(STACKS); do \
		$(BIN)/python -m tools.prom_files --stack $$stack --rendered build/$$stack --out build/$$stack/checks || exit 1; \
		promtool check rules build/$$stack/checks/rules.yaml || exit 1; \
		if [ -f build/$$stack/checks/adapter_rules.yaml ]; then \
			promtool check rules build/$$stack/checks/adapter_rules.yaml || exit 1; fi; \
		amtool check-config build/$$stack/checks/alertmanager.yaml || exit 1; \
	done
	promtool test rules tests/promtool/rules_test.yaml
	promtool test rules tests/promtool/adapter_test.yaml

# What each stack asks the cluster for (the README's first-deployment table).
capacity: $(BIN)/.installed
	@$(BIN)/python -m tools.capacity

# What README.md derives from the catalog and the stacks: the service graph and the capacity table.
readme: $(BIN)/.installed
	@$(BIN)/python -m boutique graph --write README.md
	@$(BIN)/python -m tools.capacity --write README.md

# A real control plane (kwok: simulated nodes) and the real Pulumi engine, built from Go modules into
# a cache outside the repo (the first build takes long; later runs reuse it). Not part of `make test`.
# Writes build/e2e/report.json. The last line build.sh prints is its bin dir.
e2e: $(BIN)/.installed
	@bin_dir="$$(bash e2e/toolchain/build.sh | tee /dev/stderr | tail -n 1)" && \
		BOUTIQUE_E2E_BIN="$$bin_dir" $(BIN)/python -m e2e.run

# Stops a cluster left running by `python -m e2e.run --keep`.
e2e-down: $(BIN)/.installed
	@bin_dir="$$(bash e2e/toolchain/build.sh | tee /dev/stderr | tail -n 1)" && \
		BOUTIQUE_E2E_BIN="$$bin_dir" $(BIN)/python -m e2e.cluster down

clean:
	rm -rf build $(VENV) $(CHECKOV_VENV)
