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

.PHONY: demo test bench lint ansible-lint unit sanity molecule sim-up sim-down sim-status sim-inventory deps venv hostdeps collection

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

unit: venv collection
	$(PY) -m pytest -q tests/unit

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
	$(MAKE) --no-print-directory molecule

lint: ansible-lint sanity

ansible-lint: deps
	cd $(ROOT) && $(VENV)/bin/ansible-lint --nocolor

# Every scenario under extensions/molecule (resources/ holds shared playbooks, not a scenario).
SCENARIOS ?= $(sort $(filter-out resources,$(notdir $(patsubst %/molecule.yml,%,$(wildcard $(ROOT)/extensions/molecule/*/molecule.yml)))))
molecule: deps
	@set -e; for s in $(SCENARIOS); do echo "=== molecule scenario $$s"; \
	  (cd $(ROOT) && $(VENV)/bin/molecule test -s $$s); done

# ---------------------------------------------------------------------------------------
DEMO_REPORT := $(BUILD)/demo-report.json
demo: deps
	$(SIM) up --count 3 --board mixed
	cd $(ROOT) && $(VENV)/bin/ansible-playbook -i "$$($(SIM) inventory)" playbooks/site.yml \
	  -e @playbooks/vars/demo.yml -e turris_report_file=$(DEMO_REPORT)
	@$(PY) $(ROOT)/tests/sim/demo_report.py $(DEMO_REPORT)

bench: deps
	cd $(ROOT) && $(PY) bench/run.py

# ---------------------------------------------------------------------------------------
# ansible-test wants the collection at ansible_collections/turris/containers: sanity runs on a
# copy of the files git knows about (tracked and untracked, not ignored).
SANITY_TOP ?= $(BUILD)/sanity
# Test tooling that is not part of the collection (galaxy.yml build_ignore leaves it out of the
# artifact too): the simulator and its router-side programs, the benchmarks. pytest covers them.
SANITY_SKIP := tests/sim bench
SANITY_DIR := $(SANITY_TOP)/ansible_collections/turris/containers
SANITY_VENV := $(ROOT)/.venv-sanity
$(SANITY_VENV)/.done: requirements.txt
	python3 -m venv $(SANITY_VENV)
	$(SANITY_VENV)/bin/pip install -q "$$(grep '^ansible-core==' requirements.txt)"
	touch $@

sanity: $(SANITY_VENV)/.done
	@mkdir -p ~/.ansible/test/cache && for v in 24.2 24.3 25.0 25.1 25.2 25.3; do \
	  f=~/.ansible/test/cache/get_pip_$${v//./_}.py; [ -s $$f ] || cp $(ROOT)/tests/sanity/get_pip.py $$f; done
	@rm -rf $(SANITY_DIR) && mkdir -p $(SANITY_DIR)
	@cd $(ROOT) && git ls-files -co --exclude-standard -z -- . $(foreach d,$(SANITY_SKIP),':!:$(d)') \
	  | rsync -a --from0 --files-from=- ./ $(SANITY_DIR)/
	cd $(SANITY_DIR) && git init -q && git add -A && \
	  $(SANITY_VENV)/bin/ansible-test sanity --local --python 3.11 --requirements --color no
