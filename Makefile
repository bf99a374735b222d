# Everything runs from here: `make` (creates venv/), `make render STACK=dev` and `make test` work
# on a fresh clone.
PYTHON ?= python3
VENV := venv
BIN := $(VENV)/bin
CHECKOV_VENV := .venv-checkov
STACK ?= dev
STACKS := dev prod
# The Kubernetes versions the renders are validated against: the floor and the ceiling the README
# states (boutique/plans/versions.py: KUBERNETES_FLOOR, KUBERNETES_CEILING; a test keeps them equal).
K8S_VERSIONS := 1.33.0 1.36.0
# Locks with hashes, written by uv (`make lock`): every environment installs from them, nothing else.
# UPGRADE=<package>[==<version>] ... moves those packages (e.g. UPGRADE=pulumi-kubernetes==4.25.0);
# UPGRADE=all moves every package to the newest its range allows.
LOCKS := requirements.txt requirements-dev.txt requirements-checkov.txt policy/requirements.txt
UPGRADE ?=
UV_COMPILE = $(BIN)/uv pip compile --universal --python-version 3.11 --generate-hashes --quiet \
	$(if $(filter all,$(UPGRADE)),--upgrade,$(foreach p,$(UPGRADE),--upgrade-package $(p)))
PIP_LOCKED := pip install --quiet --require-hashes --no-deps

.DEFAULT_GOAL := venv
.PHONY: venv lock render images verify deployer-rbac test lint actionlint unit renders validate checkov prom-tools redis-tools promcheck docs reference-docs capacity derived-docs e2e e2e-down clean

$(BIN)/.installed: requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/$(PIP_LOCKED) -r requirements-dev.txt
	touch $@

# checkov gets a venv of its own: installed beside pulumi, pip backtracks it to an old release.
$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/$(PIP_LOCKED) -r requirements-checkov.txt
	touch $@

# The project's virtualenv: what `venv/bin/python -m boutique ...` runs in.
venv: $(BIN)/.installed

# Rewrite the locks from the ranges in the *.in files (keeping every locked version the ranges still
# allow, unless UPGRADE says otherwise). The dev and policy locks hold the runtime lock's versions.
lock: $(BIN)/.installed
	$(UV_COMPILE) requirements.in -o requirements.txt
	$(UV_COMPILE) requirements-dev.in -c requirements.txt -o requirements-dev.txt
	$(UV_COMPILE) policy/requirements.in -c requirements.txt -o policy/requirements.txt
	$(UV_COMPILE) requirements-checkov.in -o requirements-checkov.txt

render: $(BIN)/.installed
	$(BIN)/python -m boutique render --stack $(STACK) --out build/$(STACK)

# Every image the stack runs, one per line (`image  where`): what the pull-request workflow scans.
images: $(BIN)/.installed
	@$(BIN)/python -m boutique images --stack $(STACK)

# After `pulumi up`: is the stack healthy on its cluster (kubectl; CONTEXT=... picks a context)?
verify: $(BIN)/.installed
	$(BIN)/python -m boutique verify --stack $(STACK) $(if $(CONTEXT),--context $(CONTEXT))

# The RBAC CI's deployer and previewer need for the stack (README: "Who deploys and who previews").
deployer-rbac: $(BIN)/.installed
	$(BIN)/python -m boutique deployer-rbac --stack $(STACK) --out build/rbac/$(STACK)

test: lint actionlint prom-tools redis-tools unit renders validate checkov promcheck docs

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

# promtool and amtool (prom-tools), redis-server and redis-cli for the restore drill
# (redis-tools, tests/test_redis_restore_drill.py) in a project-local folder (gitignored), taken out
# of Debian's/Ubuntu's packages without installing them, so no Prometheus, Alertmanager or Redis
# service is ever started (tools/deb_tools.sh; apt-get update through sudo when not root).
TOOLS_BIN := .tools/bin
PROMTOOL := $(TOOLS_BIN)/promtool
AMTOOL := $(TOOLS_BIN)/amtool
prom-tools:
	@tools/deb_tools.sh prom $(TOOLS_BIN)

redis-tools:
	@tools/deb_tools.sh redis $(TOOLS_BIN)

# Alert rules (from the rendered PrometheusRules), prometheus-adapter's query as a recording rule,
# and the Alertmanager configuration the program produces: promtool check/test rules, amtool
# check-config. The unit tests are written for prod; the SLO alerts' are generated from the catalog
# for every stack that measures objectives (tools.slo_tests).
promcheck: renders prom-tools
	@for stack in $(STACKS); do \
		$(BIN)/python -m tools.prom_files --stack $$stack --rendered build/$$stack --out build/$$stack/checks || exit 1; \
		$(PROMTOOL) check rules build/$$stack/checks/rules.yaml || exit 1; \
		if [ -f build/$$stack/checks/adapter_rules.yaml ]; then \
			$(PROMTOOL) check rules build/$$stack/checks/adapter_rules.yaml || exit 1; fi; \
		$(AMTOOL) check-config build/$$stack/checks/alertmanager.yaml || exit 1; \
		$(BIN)/python -m tools.slo_tests --stack $$stack --out build/$$stack/checks || exit 1; \
		if [ -f build/$$stack/checks/slo_test.yaml ]; then \
			$(PROMTOOL) test rules build/$$stack/checks/slo_test.yaml || exit 1; fi; \
	done
	$(PROMTOOL) test rules tests/promtool/rules_test.yaml
	$(PROMTOOL) test rules tests/promtool/adapter_test.yaml
	$(PROMTOOL) test rules tests/promtool/redis_test.yaml

# The docs site (mkdocs.yml, docs/): strict, so a broken link or anchor fails; into build/site.
docs: $(BIN)/.installed
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

# The reference pages (docs/reference/) from the catalog's and the settings' models.
reference-docs: $(BIN)/.installed
	@$(BIN)/python -m tools.reference_docs

# What each stack asks the cluster for (the table in docs/first-deployment.md).
capacity: $(BIN)/.installed
	@$(BIN)/python -m tools.capacity

# What the docs derive from the catalog and the stacks: the service graph and the capacity table.
derived-docs: $(BIN)/.installed
	@$(BIN)/python -m boutique graph --write docs/catalog.md
	@$(BIN)/python -m tools.capacity --write docs/first-deployment.md

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
	rm -rf build $(VENV) $(CHECKOV_VENV) .tools
