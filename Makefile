# featvslearn: one command per lesson. `make compare` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEVICE ?= auto
DEVICES ?= cpu,cuda
DATA_DIR ?=
# DATA_DIR=DIR: the dataset commands look for the files in DIR first (--data-dir), for offline use.
DATA_OPT = $(if $(DATA_DIR),--data-dir $(DATA_DIR))
# make own FOLDER=DIR: your images; SIZE=N brings them to N×N, FIT=pad|crop|squash says how (--image-size, --fit).
FOLDER ?=
SIZE ?=
FIT ?=
SIZE_OPT = $(if $(SIZE),--image-size $(SIZE)) $(if $(FIT),--fit $(FIT))
OUT ?= gpu-check
RESULTS := results
# Error messages name these variables instead of the command-line options they set.
FVL := FEATVSLEARN_MAKE_VARIABLES="--device=DEVICE --data-dir=DATA_DIR --dataset=FOLDER --image-size=SIZE --fit=FIT" $(BIN)/featvslearn
# TORCH=cpu installs the CPU-only PyTorch build (no CUDA libraries: a much smaller download).
TORCH ?=
TORCH_CPU_INDEX := https://download.pytorch.org/whl/cpu

.DEFAULT_GOAL := help
.PHONY: help install compare test lint clean demo fashion budget classical mnist cifar10 own compute scaling scaling-short ablate report datasets gpu-check

help:  ## these targets; set-up: make compare, then make test
	@echo "featvslearn: one command per lesson. Times: 2-core CPU, see README.md."
	@echo "Variables: DEVICE=$(DEVICE) (cpu, cuda), DEVICES=$(DEVICES) (make compute),"
	@echo "  TORCH=cpu (install without CUDA), DATA_DIR=DIR (dataset files, offline)"
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z0-9-]+):.*## (.*)$$/\1\t\2/' | \
		awk -F'\t' '{ printf "  make %-14s %s\n", $$1, $$2 }'

install: $(STAMP)  ## .venv with featvslearn (TORCH=cpu: no CUDA libraries)

# Reinstall only when pyproject.toml or constraints.txt changes. constraints.txt pins the exact torch and
# torchvision measured with; pyproject.toml states the range featvslearn supports.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(if $(filter cpu,$(TORCH)),$(BIN)/python -m pip install --quiet --index-url $(TORCH_CPU_INDEX) -c constraints.txt torch torchvision)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

compare: $(STAMP)  ## install if needed, then compare on digits (offline)
	$(FVL) compare --device $(DEVICE)

test: $(STAMP)  ## install if needed, then the whole test suite
	$(BIN)/python -m pytest -q

lint: $(STAMP)  ## ruff over the code, tests and benchmarks
	$(BIN)/ruff check featvslearn tests benchmarks examples

datasets: $(STAMP)  ## which datasets are here offline, where to get them
	$(FVL) datasets $(DATA_OPT)

demo: $(STAMP)  ## lesson 1: digits, report and JSON in results/ (8 s)
	mkdir -p $(RESULTS)
	$(FVL) compare --dataset digits --device $(DEVICE) --report $(RESULTS)/digits.md --json $(RESULTS)/digits.json

fashion: $(STAMP)  ## lesson 2: full Fashion-MNIST (2.1 min on 2 cores)
	mkdir -p $(RESULTS)
	$(FVL) compare --dataset fashion-mnist $(DATA_OPT) --device $(DEVICE) --report $(RESULTS)/fashion.md --json $(RESULTS)/fashion.json

budget: $(STAMP)  ## lesson 3: each side within a 60-second budget (1.7 min)
	mkdir -p $(RESULTS)
	$(FVL) compare --dataset fashion-mnist $(DATA_OPT) --device $(DEVICE) --budget 60 --report $(RESULTS)/budget.md --json $(RESULTS)/budget.json

classical: $(STAMP)  ## hog-svm and sift-svm on Fashion-MNIST (2.5 min)
	mkdir -p $(RESULTS)
	$(FVL) compare --dataset fashion-mnist $(DATA_OPT) --device $(DEVICE) --pipelines hog-svm,sift-svm --report $(RESULTS)/classical.md --json $(RESULTS)/classical.json

mnist: $(STAMP)  ## full MNIST (a network, or DATA_DIR=DIR holding its files)
	mkdir -p $(RESULTS)
	$(FVL) compare --dataset mnist $(DATA_OPT) --device $(DEVICE) --report $(RESULTS)/mnist.md --json $(RESULTS)/mnist.json

cifar10: $(STAMP)  ## colour images; best on a GPU: make cifar10 DEVICE=cuda
	mkdir -p $(RESULTS)
	$(FVL) compare --dataset cifar10 $(DATA_OPT) --device $(DEVICE) --report $(RESULTS)/cifar10.md --json $(RESULTS)/cifar10.json

own: $(STAMP)  ## your images: FOLDER=DIR [SIZE=N FIT=pad|crop|squash]
	@test -n "$(FOLDER)" || { echo "make own: name your folder of images: make own FOLDER=DIR (one sub-folder per class)"; exit 2; }
	mkdir -p $(RESULTS)
	$(FVL) compare --dataset $(FOLDER) --device $(DEVICE) $(SIZE_OPT) --report $(RESULTS)/own.md --json $(RESULTS)/own.json

compute: $(STAMP)  ## the compute factor: CPU against GPU (needs CUDA)
	mkdir -p $(RESULTS)
	@case "$(DEVICES)" in *cuda*) $(BIN)/python -c "import sys, torch; sys.exit(not torch.cuda.is_available())" || \
		{ echo "make compute: no CUDA GPU here; make compute DEVICES=cpu,cpu runs every pipeline twice on the CPU"; exit 2; };; esac
	FEATVSLEARN_MAKE_VARIABLES="--device=DEVICES --data-dir=DATA_DIR" $(BIN)/featvslearn compare --dataset fashion-mnist $(DATA_OPT) --device $(DEVICES) --report $(RESULTS)/compute.md --json $(RESULTS)/compute.json

scaling: $(STAMP)  ## the data factor: accuracy against size (87.7 min)
	mkdir -p $(RESULTS)
	$(FVL) scaling --dataset fashion-mnist $(DATA_OPT) --device $(DEVICE) --report $(RESULTS)/scaling.md --json $(RESULTS)/scaling.json

scaling-short: $(STAMP)  ## the data factor in workshop time (2.1 min)
	mkdir -p $(RESULTS)
	$(FVL) scaling --dataset fashion-mnist $(DATA_OPT) --device $(DEVICE) --sizes 100,1000,10000 --seeds 1 --test-size 2000 --report $(RESULTS)/scaling-short.md --json $(RESULTS)/scaling-short.json

ablate: $(STAMP)  ## the algorithms factor: LeNet-5-shaped variants (4.1 min)
	mkdir -p $(RESULTS)
	$(FVL) ablate --dataset fashion-mnist $(DATA_OPT) --device $(DEVICE) --report $(RESULTS)/ablate.md --json $(RESULTS)/ablate.json

gpu-check:  ## every GPU figure against its target, into OUT/
	PYTHONPATH=. $(if $(wildcard $(BIN)/python),$(BIN)/python,$(PYTHON)) benchmarks/gpu_check.py --data-dir $(or $(DATA_DIR),../fashion-mnist) --out $(OUT)

report: $(STAMP)  ## re-render every results/*.json, no training
	@failed=0; for f in $(RESULTS)/*.json; do \
		[ -e "$$f" ] || { echo "make report: no results in $(RESULTS)/; run make demo first"; exit 2; }; \
		$(FVL) report "$$f" --out "$${f%.json}.md" || failed=$$((failed + 1)); \
	done; \
	[ $$failed -eq 0 ] || { echo "make report: $$failed file(s) in $(RESULTS)/ could not be re-rendered (see above)"; exit 2; }

clean:  ## remove .venv and caches (results/ stays)
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
