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

.PHONY: demo test bench lint unit sanity molecule sim-up sim-down sim-inventory deps venv hostdeps collection

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

sim-down: venv
	$(SIM) down

sim-inventory: venv
	@$(SIM) inventory
