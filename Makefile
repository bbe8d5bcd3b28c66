# Two commands for a newcomer: `make run` and `make test`. Both create .venv and install first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-fast check browser promtool rabbitmq lint bench chaos install clean

# The first run takes a minute or so: each phase says so, and pip lists what it fetches.
PIP := $(BIN)/python -m pip --disable-pip-version-check
$(BIN)/python:
	@echo "make: [1/3] creating the virtual environment in $(VENV)"
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	@echo "make: [2/3] upgrading pip"
	@$(PIP) install --quiet --upgrade pip
	@echo "make: [3/3] installing the service and its test tools (about 100 packages)"
	@$(PIP) install --progress-bar on -e '.[test]'
	@touch $(STAMP)
	@echo "make: installed in $(VENV) (done again only when pyproject.toml changes)"

install: $(STAMP)

run: $(STAMP)
	$(BIN)/scheduler dev

# Tests run on TEST_WORKERS processes (pytest-xdist), a module at a time on one of them (its
# fixtures, such as a module's beat and workers, are shared within it): most of an end-to-end
# test is waiting on processes, so 2 on 2 cores take about half the time of one.
TEST_WORKERS ?= 2
PYTEST := $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile --durations=15

# The whole suite: the static checks, then every test (end-to-end ones included: real beat and
# worker processes, servers, a headless Chromium).
test: $(STAMP) check browser promtool rabbitmq
	$(PYTEST) -m "not serial"
	$(BIN)/python -m pytest -q -m serial  # the few that need the machine to themselves

# The static checks and the tests that start no process or browser (marker e2e): minutes less.
test-fast: $(STAMP) check
	$(PYTEST) -m "not e2e"

check: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

# Debian packages some tests drive, installed here when missing (apt-get, as root or through
# sudo); with no apt-get it says so and those tests skip with a loud message. $(1): the make
# target, $(2): the packages, $(3): the paths that show they are installed.
APT := env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300
define apt_install
	@if ls $(3) >/dev/null 2>&1; then exit 0; fi; \
	if ! command -v apt-get >/dev/null; then \
		echo "make $(1): no apt-get here; install $(2) yourself (their tests skip until then)" >&2; \
		exit 0; fi; \
	sudo=; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	echo "make $(1): installing $(2) with apt-get"; \
	$$sudo $(APT) install -y --no-install-recommends $(2) \
		|| { $$sudo $(APT) update && $$sudo $(APT) install -y --no-install-recommends $(2); }
endef

# The browser tests (Flower, the dashboard) drive Debian's chromium and chromium-driver, never a
# browser a tool downloads.
CHROMIUM ?= /usr/bin/chromium
CHROMEDRIVER ?= /usr/bin/chromedriver
browser:
	$(call apt_install,browser,chromium chromium-driver,$(CHROMIUM) $(CHROMEDRIVER))

# promtool (in Debian's prometheus package) checks deploy/monitoring's alert rules, runs their
# unit tests and parses the Grafana dashboard's queries (tests/test_deploy_monitoring.py). Where
# systemd runs, the package also starts its server (:9090): `systemctl disable --now prometheus`.
promtool:
	$(call apt_install,promtool,prometheus,/usr/bin/promtool)

# RabbitMQ as a broker apart from the store (SCHEDULER_BROKER_URL=amqp://...): the tests start
# their own node of Debian's rabbitmq-server on private ports and a private data dir
# (tests/rabbitmq_support.py). Where systemd runs, the package also starts the machine's own node
# (:5672), which the tests never use: `systemctl disable --now rabbitmq-server` if unwanted.
rabbitmq:
	$(call apt_install,rabbitmq,rabbitmq-server,/usr/lib/rabbitmq/bin/rabbitmq-server)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python bench/beat_dispatch.py --schedules 100000 --due 10000 --compare-redbeat

# The chaos scenarios for minutes (bench/chaos.py: 600 jobs over 120 s each, ~12 min in all);
# one line of figures per scenario, the last line JSON.
chaos: $(STAMP)
	$(BIN)/python bench/chaos.py

clean:
	rm -rf $(VENV) var
