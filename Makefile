# turris.containers — developer entry points. See README.md.
SHELL := /bin/bash
ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
VENV ?= $(ROOT)/.venv
PY := $(VENV)/bin/python
BUILD := $(ROOT)/.build
COLL_ROOT := $(BUILD)/collections
COLL_LINK := $(COLL_ROOT)/ansible_collections/turris/containers
SIM := $(PY) $(ROOT)/tests/sim/turris_sim.py
COUNT ?= 3
BOARD ?= mixed
export ANSIBLE_COLLECTIONS_PATH := $(COLL_ROOT):$(VENV)/lib/python3.11/site-packages
export ANSIBLE_CONFIG := $(ROOT)/ansible.cfg
export PATH := $(VENV)/bin:$(PATH)

.PHONY: demo test bench lint ansible-lint unit sanity compat molecule sim-up sim-down sim-status sim-inventory deps venv hostdeps collection

# ansible-core lines the collection is tested with; meta/runtime.yml's requires_ansible follows the
# oldest. The pin in requirements.txt (CORE_MAIN) runs everything in $(VENV); the other lines run
# ansible-test sanity and the unit tests (`make compat`, or `make sanity unit ANSIBLE_CORE=x.y.z`),
# each in a venv of its own under .build/venvs with the `ansible` package of that line (it carries
# community.general and ansible.utils). Newest patch of each line that installs on Python 3.11.
CORE_MAIN := $(shell sed -n 's/^ansible-core==//p' $(ROOT)/requirements.txt)
CORE_OTHER := 2.17.14 2.19.14
ANSIBLE_PACKAGE_2.17.14 := ansible==10.7.0
ANSIBLE_PACKAGE_2.19.14 := ansible==12.3.0
ANSIBLE_CORE ?= $(CORE_MAIN)
VENVS := $(BUILD)/venvs
UNIT_VENV := $(if $(filter $(CORE_MAIN),$(ANSIBLE_CORE)),$(VENV),$(VENVS)/core-$(ANSIBLE_CORE))

hostdeps:
	@$(ROOT)/tests/sim/install-host-deps.sh

$(VENV)/.done: requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -r requirements.txt
	touch $@

venv: $(VENV)/.done

collection:
	@mkdir -p $(dir $(COLL_LINK))
	@[ -L $(COLL_LINK) ] || ln -sfn $(ROOT) $(COLL_LINK)

deps: hostdeps venv collection

$(VENVS)/core-%/.done: requirements.txt
	@[ -n "$(ANSIBLE_PACKAGE_$*)" ] || { echo "ansible-core $* is not one of CORE_OTHER ($(CORE_OTHER))" >&2; exit 2; }
	python3 -m venv $(@D)
	$(@D)/bin/pip install -q --upgrade pip
	$(@D)/bin/pip install -q "ansible-core==$*" "$(ANSIBLE_PACKAGE_$*)" $$(grep -E '^(pytest|pytest-xdist|execnet|netaddr|passlib|PyYAML)==' requirements.txt)
	touch $@

# The collection's own tests (plugins, the example inventory, the artifact, the corpora) run on
# every line, spread over UNIT_WORKERS processes (pytest-xdist, a test file per worker: a file's
# fixtures stay in one process). The simulator's tests (tests/unit/sim) and the tests that bring up
# fleets (nested LXC, readiness.yml) run one at a time and on the main line only, as molecule does:
# a fleet costs minutes, and the simulator's tests do not import ansible-core at all.
UNIT_WORKERS ?= 2
UNIT_WITH_FLEETS := tests/unit/plugins/modules/test_lxc_container_nested.py tests/unit/test_readiness.py
UNIT_OWN := tests/unit/plugins $(wildcard tests/unit/test_*.py) $(foreach t,$(UNIT_WITH_FLEETS),--deselect $(t))
UNIT_FLEETS := $(if $(filter $(CORE_MAIN),$(ANSIBLE_CORE)),tests/unit/sim $(UNIT_WITH_FLEETS))
unit: $(UNIT_VENV)/.done collection
	@echo "=== unit tests on ansible-core $$($(UNIT_VENV)/bin/python -c 'from ansible.release import __version__; print(__version__)')"
	ANSIBLE_COLLECTIONS_PATH=$(COLL_ROOT):$(UNIT_VENV)/lib/python3.11/site-packages \
	  $(UNIT_VENV)/bin/python -m pytest -q -n $(UNIT_WORKERS) --dist loadfile $(UNIT_OWN)
	$(if $(UNIT_FLEETS),ANSIBLE_COLLECTIONS_PATH=$(COLL_ROOT):$(UNIT_VENV)/lib/python3.11/site-packages \
	  $(UNIT_VENV)/bin/python -m pytest -q $(UNIT_FLEETS))

# sanity + unit tests on the other ansible-core lines (molecule stays on CORE_MAIN).
compat:
	@set -e; for v in $(CORE_OTHER); do \
	  $(MAKE) --no-print-directory sanity unit ANSIBLE_CORE=$$v; done

sim-up: deps
	$(SIM) up --count $(COUNT) --board $(BOARD)

sim-down:
	@python3 $(ROOT)/tests/sim/turris_sim.py down

sim-status:
	@python3 $(ROOT)/tests/sim/turris_sim.py status

sim-inventory:
	@python3 $(ROOT)/tests/sim/turris_sim.py inventory

# ---------------------------------------------------------------------------------------
# make test: everything CI runs. lint -> unit -> molecule scenarios on simulated routers.
test: deps
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory unit
	$(MAKE) --no-print-directory compat
	$(MAKE) --no-print-directory molecule

lint: ansible-lint sanity

# ansible-lint resolves turris.containers.* through ANSIBLE_COLLECTIONS_PATH (.build/collections,
# made by `collection`): .ansible-lint is `offline`, so ansible-lint installs nothing itself.
ansible-lint: venv collection
	cd $(ROOT) && $(VENV)/bin/ansible-lint --nocolor

# Every scenario under extensions/molecule (resources/ holds shared playbooks, not a scenario).
SCENARIOS ?= $(sort $(filter-out resources,$(notdir $(patsubst %/molecule.yml,%,$(wildcard $(ROOT)/extensions/molecule/*/molecule.yml)))))
molecule: deps
	@set -e; for s in $(SCENARIOS); do echo "=== molecule scenario $$s"; \
	  (cd $(ROOT) && $(VENV)/bin/molecule test -s $$s); done

# ---------------------------------------------------------------------------------------
# The fleet report as the collection writes it (JSON, Markdown, HTML); the Markdown table is printed.
DEMO_REPORT := $(BUILD)/demo-report
demo: deps
	$(SIM) up --count 3 --board mixed
	cd $(ROOT) && $(VENV)/bin/ansible-playbook -i "$$($(SIM) inventory)" playbooks/site.yml \
	  -e @playbooks/vars/demo.yml -e turris_report_dir=$(DEMO_REPORT)
	@echo; cat $(DEMO_REPORT)/fleet-report.md
	@echo; echo "The same report as a page for a browser: $(DEMO_REPORT)/fleet-report.html (JSON: fleet-report.json)"
	@$(PY) $(ROOT)/tests/sim/demo_report.py $(DEMO_REPORT)/fleet-report.json

bench: deps
	cd $(ROOT) && $(PY) bench/run.py

# ---------------------------------------------------------------------------------------
# ansible-test wants the collection at ansible_collections/turris/containers: sanity runs on a
# copy of the files git knows about (tracked and untracked, not ignored), one per ansible-core.
SANITY_TOP ?= $(BUILD)/sanity-$(ANSIBLE_CORE)
# Test tooling that is not part of the collection (galaxy.yml build_ignore leaves it out of the
# artifact too): the simulator and its router-side programs, the benchmarks. pytest covers them.
SANITY_SKIP := tests/sim bench
SANITY_DIR := $(SANITY_TOP)/ansible_collections/turris/containers
SANITY_VENV := $(VENVS)/sanity-$(ANSIBLE_CORE)
$(VENVS)/sanity-%/.done: requirements.txt
	python3 -m venv $(@D)
	$(@D)/bin/pip install -q "ansible-core==$*"
	touch $@

sanity: $(SANITY_VENV)/.done
	@mkdir -p ~/.ansible/test/cache && for v in 23.1.2 24.2 24.3 25.0 25.1 25.2 25.3; do \
	  f=~/.ansible/test/cache/get_pip_$${v//./_}.py; [ -s $$f ] || cp $(ROOT)/tests/sanity/get_pip.py $$f; done
	@rm -rf $(SANITY_DIR) && mkdir -p $(SANITY_DIR)
	@cd $(ROOT) && git ls-files -co --exclude-standard -z -- . $(foreach d,$(SANITY_SKIP),':!:$(d)') \
	  | rsync -a --from0 --files-from=- ./ $(SANITY_DIR)/
	@echo "=== ansible-test sanity on ansible-core $(ANSIBLE_CORE)"
	cd $(SANITY_DIR) && git init -q && git add -A && \
	  $(SANITY_VENV)/bin/ansible-test sanity --local --python 3.11 --requirements --color no
